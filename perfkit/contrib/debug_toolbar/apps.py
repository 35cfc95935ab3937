from __future__ import annotations

from perfkit.installed import SubAppConfig


class DebugToolbarPanelConfig(SubAppConfig):
    name = "perfkit.contrib.debug_toolbar"
    label = "perfkit_debug_toolbar"
    verbose_name = "perfkit debug-toolbar panel"
    default = True
