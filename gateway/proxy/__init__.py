"""Proxy: the sidecar's HTTP shell — FastAPI app, configuration, metrics and JSON logging — over the Gateway."""
