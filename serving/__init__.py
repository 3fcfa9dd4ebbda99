"""Serving the dashboard: everything that runs *around* the pages, never inside one.

* :mod:`serving.serve` - one server (``python -m serving.serve``): Streamlit with our patches, and the warm start;
* :mod:`serving.classroom` - a lecture hall (``python -m serving.classroom``): N workers, HAProxy, redis;
* :mod:`serving.haproxy` - the one HAProxy configuration (``make classroom`` and ``deploy/haproxy-compose.cfg``);
* :mod:`serving.health` - the one server health poll;
* :mod:`serving.student` - the scripted student (Streamlit's websocket protocol, no browser): the warm
  start, the serving tests and the classroom benchmarks;
* :mod:`serving.patches` - every use of Streamlit's private API, checked against the Streamlit version
  it was written for. The only module of this package that ``dashboard/`` may import (tests/core/test_layers.py).
"""
