"""The HTTP guard every server of ours stands behind: the sidecar, the testbed and ``compliance --listen``.

uvicorn alone lets a slow or hostile client hold a connection and its body for ever. Three small modules close that,
below the shells so each of them uses the same code (tests/test_layers.py: shells may not import each other):

* :mod:`.limits`: :class:`HttpLimits`, the numbers (connection cap, header size and deadline, body deadline and rate);
* :mod:`.protocol`: the uvicorn protocol that enforces them on the connection (:func:`guarded_protocol`);
* :mod:`.bodies`: the app's read of a body within its size and time and the server's body budget.

Nothing is imported here: :mod:`.limits` is read by configuration code that should not load uvicorn for it.
"""
