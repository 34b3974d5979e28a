"""curation: LIMA-style curation of small, high-quality instruction datasets.

Data flows one way: sources -> steps -> pipeline -> store -> cards/hub, with
finetune reading stored versions only (see docs/design.md).
"""

__version__ = "0.1.0"
