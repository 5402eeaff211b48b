"""Observability: Prometheus ``/metrics``, structured JSON logs, the access log.

:func:`reach.observability.wiring.setup` is called once per app by
:func:`reach.web.app.create_app`; what it returns supplies the Edge observers, the ``/metrics``
route and the lifespan hooks. Each observer runs after every response, so each is kept to a few
microseconds (the README's Observability section gives the measured cost).

This package's ``__init__`` imports nothing: ``reach serve`` imports
:mod:`reach.observability.workers` before granian starts its workers, and prometheus_client
must not be imported in that process before ``PROMETHEUS_MULTIPROC_DIR`` is set (it picks its
storage once, at import, and forked workers inherit the choice).
"""
