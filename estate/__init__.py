"""The AppHost: the one place that knows the whole estate (``estate.toml``), starts it (``launcher``), serves the
``omnigate`` command (``cli``) and exports its OpenAPI documents. The kernel (``shared``) knows no deployable."""
