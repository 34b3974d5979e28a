"""Language-aware text helpers, as Polars expressions, shared by sources and steps."""
