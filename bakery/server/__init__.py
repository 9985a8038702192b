"""The metadata registry's HTTP service: a REST API under ``/api/v1`` and a read-only web UI.

A thin adapter over :mod:`bakery.registry`, like the CLI: every handler parses its input, calls
one library function in a session and renders the result. :func:`bakery.server.app.create_app`
builds the ASGI application; ``bakery serve`` runs it under uvicorn.
"""
