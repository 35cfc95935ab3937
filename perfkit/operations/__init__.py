"""Operations pages and endpoints: health, status, the Database page, Prometheus.

``live/``, ``health/`` and ``metrics/`` (:mod:`.views`, routed by
``perfkit.urls``), the figures of perfkit's own status page (:mod:`.status`),
and those of the admin's Database page (:mod:`.dbinsights`, :mod:`.indexhints`).
"""
