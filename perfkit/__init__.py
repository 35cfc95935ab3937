"""perfkit: production performance tooling inside the Django admin.

This module imports nothing from Django so that packaging tools can read the
version without configuring settings.
"""

__version__ = "0.1.0"
