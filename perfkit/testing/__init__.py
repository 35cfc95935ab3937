"""Query assertions for your own test suites (pytest plugin and plain context managers).

::

    from perfkit.testing import assert_max_queries, assert_no_n_plus_one

    with assert_max_queries(5):
        client.get("/books/")

They observe every database alias through perfkit's execute wrapper, so they
work with ``DEBUG=False`` and in async views; a failure lists the offending
statements with the line of your code that issued them.
"""

from perfkit.testing.assertions import (
    QueryAssertionError,
    assert_max_queries,
    assert_no_duplicate_queries,
    assert_no_n_plus_one,
)

__all__ = [
    "QueryAssertionError",
    "assert_max_queries",
    "assert_no_duplicate_queries",
    "assert_no_n_plus_one",
]
