"""Dataset cards: Hub metadata and a body rendered from a version's manifest and rows."""

from curation.cards.card import (
    card_from_folder,
    card_metadata,
    classify_license,
    license_rollup,
    read_manifest,
    render_card,
    size_category,
    write_card,
)
from curation.cards.figures import Histogram, write_histograms

__all__ = [
    "Histogram",
    "card_from_folder",
    "card_metadata",
    "classify_license",
    "license_rollup",
    "read_manifest",
    "render_card",
    "size_category",
    "write_card",
    "write_histograms",
]
