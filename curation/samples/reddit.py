"""A small synthetic Pushshift per-subreddit dump of r/WritingPrompts, generated in the real format.

``python -m curation build reddit`` without ``--dump`` builds from it, and tests use it. Two zstd
files with a long window, NDJSON rows with Pushshift's fields and its drift (``created_utc`` as int
or string, a missing ``score``), and every case the ``lima-writingprompts`` recipe decides on:
tagged and untagged prompts ([WP], [EU], [CW]), low and high scores, an AutoModerator sticky on
each thread, ``[deleted]``/``[removed]`` stories, a distinguished moderator comment, replies
(not top-level), NSFW prompts, short and overlong stories, a French story, and a duplicated story.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import zstandard

_OPENINGS = [
    "The lighthouse keeper had not spoken to anyone in eleven years when the knock came.",
    "Nobody on the colony ship remembered who had first suggested the vote.",
    "The dragon filed its tax return on time, which was the first sign something was wrong.",
    "On the morning the sun failed to rise, the baker opened her shop anyway.",
    "The letter arrived forty years late, still sealed, addressed to a house that no longer stood.",
]
_MIDDLES = [
    "She counted the steps twice, because the second count never matched the first.",
    "The town council argued for hours, and in the end they simply stopped talking.",
    "Rain fell sideways across the harbour, and the boats rocked like restless animals.",
    "He kept the key in his pocket, turning it over whenever the silence grew too heavy.",
    "Somewhere below the floorboards, a clock ticked that nobody had ever wound.",
    "The stranger smiled as if he already knew how the evening would end.",
    "By the third day the rumours had grown teeth, and the children stopped playing outside.",
    "They walked until the road became a path, and the path became a memory of a path.",
]
_ENDINGS = [
    "When the door finally closed, the room was exactly as quiet as before, and yet nothing was the same.",
    "In the end, the answer had been written on the first page all along.",
]
_FRENCH = ("Le gardien du phare n'avait parlé à personne depuis onze ans quand on frappa à la porte. "
           "Il descendit lentement l'escalier, la lampe à la main, et ouvrit sans poser de question. ")  # fmt: skip


def _story(rng: random.Random, sentences: int) -> str:
    parts = [rng.choice(_OPENINGS)] + [rng.choice(_MIDDLES) for _ in range(sentences)] + [rng.choice(_ENDINGS)]
    paragraphs = [" ".join(parts[i : i + 4]) for i in range(0, len(parts), 4)]
    return "\n\n".join(paragraphs).replace("'", "&#39;") if rng.random() < 0.1 else "\n\n".join(paragraphs)


def _rows(seed: int = 150) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    submissions, comments = [], []
    base = 1_420_070_400
    tags = ["[WP]", "[WP]", "[WP]", "[ WP ]", "[EU]", "[CW]"]
    for n in range(60):
        sid = f"s{n:04d}"
        tag = tags[n % len(tags)]
        score = [5, 150, 420, 2500, 90, 1200][n % 6]
        created = base + n * 3600
        submissions.append({
            "id": sid, "name": f"t3_{sid}", "subreddit": "WritingPrompts", "subreddit_id": "t5_2s3nb",
            "title": f"{tag} A {rng.choice(['detective', 'dragon', 'librarian', 'ghost'])} discovers "
                     f"that {rng.choice(['time', 'the moon', 'every clock', 'the sea'])} has a secret &amp; keeps it",
            "selftext": "", "score": score, "num_comments": 6, "over_18": n % 17 == 0,
            "author": f"prompter{n % 7}", "permalink": f"/r/WritingPrompts/comments/{sid}/prompt/",
            "created_utc": created if n % 5 else str(created), "stickied": False, "is_self": True,
        })  # fmt: skip
        kinds = ["automod", "story", "story", "short", "deleted", "reply"]
        if n % 9 == 4:
            kinds.append("mod")
        if n % 11 == 3:
            kinds.append("long")
        if n % 13 == 5:
            kinds.append("french")
        for k, kind in enumerate(kinds):
            cid = f"c{n:04d}{k}"
            body = {
                "automod": "**Welcome to the Prompt!** All top-level comments must be a story or poem.",
                "story": _story(rng, rng.randint(8, 20)),
                "short": "Nice prompt, wish I had time to write this one.",
                "deleted": "[removed]" if k % 2 else "[deleted]",
                "reply": _story(rng, 10),
                "mod": "Mod note: please keep the discussion civil. " + _story(rng, 9),
                "long": _story(rng, 90),
                "french": _FRENCH * 6,
            }[kind]
            duplicate = n in (8, 20) and kind == "story" and k == 1
            if duplicate:
                body = _story(random.Random(7), 12)  # the same story under two prompts: a duplicate
            row = {
                "id": cid, "name": f"t1_{cid}", "link_id": f"t3_{sid}", "subreddit": "WritingPrompts",
                "parent_id": f"t1_c{n:04d}1" if kind == "reply" else f"t3_{sid}",
                "body": body, "author": "AutoModerator" if kind == "automod" else f"writer{(n + k) % 11}",
                "score": {"automod": 1, "story": rng.choice([3, 25, 60, 340]), "short": 40, "deleted": 70,
                          "reply": 500, "mod": 900, "long": 800, "french": 650}[kind],
                "stickied": kind == "automod", "distinguished": "moderator" if kind in ("automod", "mod") else None,
                "created_utc": created + 60 * (k + 1),
                "permalink": f"/r/WritingPrompts/comments/{sid}/prompt/{cid}/",
            }  # fmt: skip
            if duplicate:
                row["score"] = 999
            if n % 8 == 7 and kind == "short":
                del row["score"]  # drift: a missing score
            comments.append(row)
    return submissions, comments


def _write(path: Path, rows: list[dict]) -> None:
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=31, enable_ldm=True)
    path.write_bytes(zstandard.ZstdCompressor(compression_params=params).compress(data))


def write_sample_dump(folder: str | Path) -> Path:
    """Write ``WritingPrompts_submissions.zst`` and ``WritingPrompts_comments.zst`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    submissions, comments = _rows()
    _write(folder / "WritingPrompts_submissions.zst", submissions)
    _write(folder / "WritingPrompts_comments.zst", comments)
    return folder


def sample_dump() -> Path:
    """The sample dump in the cache folder (written on first use)."""
    from curation.samples import cached_sample

    return cached_sample("reddit-v1", write_sample_dump, "WritingPrompts_comments.zst")
