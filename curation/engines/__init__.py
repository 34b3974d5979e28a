"""Engines that run a recipe: ``local`` (Polars, lazy and streaming: `curation.pipeline`) and ``ray``.

The Ray engine (`ray_engine`, `ray_sources`) runs the same sources and steps on Ray Data and gives
the same rows, funnel and bytes; Ray is the optional ``ray`` extra (`ray_runtime.require_ray` says
how to install it). `byte_ranges` cuts big uncompressed dump files into row-aligned ranges and
needs no Ray. Nothing here is imported by the local path.
"""

ENGINES = ("local", "ray")
