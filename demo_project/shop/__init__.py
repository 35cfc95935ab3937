"""The demo shop: a small bookshop with deliberately slow endpoints for perfkit to find."""
