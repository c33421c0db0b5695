"""The console's page handlers, one module per concern; each handler takes the shared ``Console`` first and is
bound to its route in ``gateway/console/app.py``."""
