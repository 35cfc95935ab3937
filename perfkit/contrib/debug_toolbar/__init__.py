"""perfkit's django-debug-toolbar panel (``perfkit.contrib.debug_toolbar.panel.PerfkitPanel``)."""
