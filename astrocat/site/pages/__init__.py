"""The site's pages, one module per kind; each `write`s its pages through a `Site`."""
