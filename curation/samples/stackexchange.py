"""A small synthetic Stack Exchange dump, generated in the real format with its quirks.

``python -m curation build stackexchange`` without ``--dump`` builds from it, and tests use it as
a fixture. It is written by code, never copied from a real dump, and exercises every filter of
the ``lima`` recipe and every quirk the parser handles:

- ``physics.stackexchange.com/`` (STEM): a site folder, BOM, `` />`` rows, ``&lt;a&gt;`` tags,
  ``ContentLicense``, a Users.xml for display names;
- ``cooking.stackexchange.com.7z`` (Other): a real 7z archive with Posts.xml and Users.xml;
- ``travel.stackexchange.com/`` (Other): ``<!DOCTYPE>``, CRLF line ends, ``></row>`` rows,
  ``|a|b|`` tags, no ``ContentLicense`` (an old dump: CC BY-SA 3.0);
- ``physics.meta.stackexchange.com/``: a meta site (excluded by default).

Answers vary in score, length (too short, right, too long), first person, references to other
answers, leftover links, images, code blocks, lists, language (French and Spanish), duplicates,
and titles that do or do not state the question on their own.
"""

from __future__ import annotations

import random
from html import escape
from pathlib import Path

_TOPICS = {
    "physics.stackexchange.com": [
        ("light", "speed of light", "refraction"), ("energy", "kinetic energy", "friction"),
        ("gravity", "tidal forces", "orbits"), ("heat", "thermal conduction", "entropy"),
        ("waves", "interference", "diffraction"), ("charge", "electric fields", "capacitors"),
        ("pressure", "fluid statics", "buoyancy"), ("magnetism", "induction", "transformers"),
    ],
    "cooking.stackexchange.com": [
        ("bread", "gluten development", "proofing"), ("eggs", "protein coagulation", "emulsions"),
        ("rice", "starch gelatinization", "absorption"), ("steak", "the Maillard reaction", "resting"),
        ("sauces", "reduction", "thickening with roux"), ("pasta", "salting water", "al dente texture"),
        ("pickles", "brine strength", "fermentation"), ("cakes", "leavening", "creaming butter"),
    ],
    "travel.stackexchange.com": [
        ("visas", "transit rules", "passport validity"), ("trains", "rail passes", "seat reservations"),
        ("flights", "layovers", "checked baggage"), ("money", "currency exchange", "card fees"),
        ("hostels", "dormitory rooms", "lockers"), ("customs", "duty-free limits", "declarations"),
        ("buses", "night coaches", "ticket offices"), ("hiking", "trail permits", "mountain huts"),
    ],
    "physics.meta.stackexchange.com": [
        ("tags", "tag synonyms", "tag wikis"), ("homework", "homework policy", "closing questions"),
    ],
}  # fmt: skip

_SENTENCES = [
    "The key idea is that {b} depends on how {a} behaves under ordinary conditions.",
    "In practice, {c} changes the outcome more than most people expect.",
    "A useful way to think about {a} is to separate the short-term effect from the long-term one.",
    "When {b} dominates, small adjustments lead to large and visible differences.",
    "Most references describe {c} as a gradual process rather than a sudden switch.",
    "The standard explanation links {b} to a balance between two competing effects.",
    "Careful measurements show that {c} follows a predictable pattern over time.",
    "It helps to start from the simplest case and then add complications one at a time.",
    "Beginners often overlook {c}, yet it explains many of the surprising results.",
    "There is no single rule that covers every situation, but {b} is a reliable guide.",
    "The effect becomes stronger as the scale grows, which is why large cases look so different.",
    "A common mistake is to treat {a} and {c} as independent when they are closely related.",
    "Textbooks usually introduce {b} with an idealised example that ignores losses.",
    "Real situations add noise, so the clean theoretical picture only holds approximately.",
    "The historical development of {a} explains why the terminology can be confusing.",
    "Once {c} is understood, the remaining details follow naturally from the basic principle.",
]
_FRENCH = (
    "La réponse courte est que cela dépend beaucoup des conditions et de la méthode utilisée. "
    "En général, il faut commencer par comprendre le principe de base, puis vérifier chaque étape "
    "avec soin. Les détails changent selon la situation, mais la logique reste toujours la même. "
)
_SPANISH = (
    "La respuesta corta es que depende mucho de las condiciones y del método que se utilice. "
    "En general, conviene empezar por entender el principio básico y después revisar cada paso "
    "con cuidado. Los detalles cambian según la situación, pero la lógica sigue siendo la misma. "
)
_GOOD_TITLES = [
    "How does {b} affect {a}?", "Why does {c} matter for {a}?", "What is the difference between {b} and {c}?",
    "Is it true that {c} always improves {a}?", "How can {b} be measured reliably?",
]
_BAD_TITLES = ["Help with this", "What is this?", "{a} problem", "Question about the picture below"]
_FIRST_PERSON = "In my experience, I always check {c} first, and it has never let me down. "
_OTHER_ANSWERS = "As mentioned in the other answers, {b} is only part of the story. "
_LEFTOVER_LINK = "Full tables are at https://example.org/{a}/reference for anyone who needs them. "


def _paragraphs(rng: random.Random, topic: tuple[str, str, str], sentences: int) -> list[str]:
    a, b, c = topic
    chosen = [rng.choice(_SENTENCES).format(a=a, b=b, c=c) for _ in range(sentences)]
    return [" ".join(chosen[i : i + 4]) for i in range(0, len(chosen), 4)]


def _answer_html(rng: random.Random, topic, kind: str) -> str:
    a, b, c = topic
    sizes = {"short": 4, "good": rng.randint(14, 26), "long": 60}
    paras = _paragraphs(rng, topic, sizes.get(kind, 16))
    if kind == "first_person":
        paras[0] = _FIRST_PERSON.format(c=c) + paras[0]
    elif kind == "other_answers":
        paras[0] = _OTHER_ANSWERS.format(b=b) + paras[0]
    elif kind == "leftover_link":
        paras[-1] += " " + _LEFTOVER_LINK.format(a=a.replace(" ", "-"))
    elif kind in ("french", "spanish"):
        paras = [(_FRENCH if kind == "french" else _SPANISH) * 3] * 3
    html = "".join(f"<p>{escape(p)}</p>\n" for p in paras[:2])
    html += f"<p>Read the <a href=\"https://example.org/{a}\">overview of {escape(a)}</a> for background.</p>\n"
    html += "<ul>\n" + "".join(f"<li>{escape(x)} matters</li>\n" for x in (a, b, c)) + "</ul>\n"
    if rng.random() < 0.5:
        html += (
            '<pre class="lang-py prettyprint-override"><code>def estimate(x):\n'
            "    return 2 * x &lt; 10 and x &gt; 0\n</code></pre>\n"
        )
    if rng.random() < 0.3:
        html += '<p><img src="https://i.sstatic.net/abc.png" alt="diagram of the setup"></p>\n'
    html += "".join(f"<p>{escape(p)}</p>\n" for p in paras[2:])
    return html


def _row(attrs: dict, end: str = " />") -> str:
    parts = " ".join(f'{k}="{_attr(v)}"' for k, v in attrs.items() if v is not None)
    return f"  <row {parts}{end}"


def _attr(value) -> str:
    text = str(value)
    return escape(text, quote=True).replace("&#x27;", "'").replace("\n", "&#xA;")


def _site_rows(site: str, rng: random.Random, *, pipes: bool, license_attr: bool) -> tuple[list[dict], list[dict]]:
    posts, users = [], []
    user_names = ["Ada", "Grace O'Neil", "Lin <Wei>", "José & Co", "Marta"]
    for i, name in enumerate(user_names, start=1):
        users.append({"Id": i, "Reputation": 100 * i, "CreationDate": "2014-01-0%dT10:00:00.000" % i, "DisplayName": name})
    post_id = 1
    topics = _TOPICS[site]
    kinds = ["good", "good", "short", "long", "first_person", "other_answers", "leftover_link", "french", "spanish"]
    shared_answer = _answer_html(random.Random(site), topics[0], "good")
    for q in range(40 if ".meta." not in site else 6):
        topic = topics[q % len(topics)]
        a, b, c = topic
        titles = _GOOD_TITLES if q % 5 else _BAD_TITLES
        title = rng.choice(titles).format(a=a, b=b, c=c)
        title = title[0].upper() + title[1:]
        tags = [a.replace(" ", "-"), rng.choice(["basics", "theory", "practice"])]
        q_id = post_id
        post_id += 1
        n_answers = 1 + (q % 4)
        answer_ids = list(range(post_id, post_id + n_answers))
        post_id += n_answers
        accepted = answer_ids[-1] if q % 3 == 0 else None
        month = 1 + q % 12
        posts.append({
            "Id": q_id, "PostTypeId": 1, "AcceptedAnswerId": accepted,
            "CreationDate": f"2019-{month:02d}-1{q % 10}T08:{q % 60:02d}:00.{q:03d}",
            "Score": rng.randint(0, 60), "ViewCount": rng.randint(50, 5000),
            "Body": f"<p>{escape(' '.join(_paragraphs(rng, topic, 3)))}</p>\n<p>What explains {escape(b)} here?</p>\n",
            "OwnerUserId": 1 + q % len(user_names), "LastActivityDate": "2020-01-01T00:00:00.000",
            "Title": title, "Tags": ("|" + "|".join(tags) + "|") if pipes else "".join(f"<{t}>" for t in tags),
            "AnswerCount": n_answers, "CommentCount": 0,
            "ClosedDate": "2020-02-02T00:00:00.000" if q == 7 else None,
            "ContentLicense": "CC BY-SA 4.0" if license_attr else None,
        })  # fmt: skip
        for k, answer_id in enumerate(answer_ids):
            kind = kinds[(q + k) % len(kinds)]
            body = _answer_html(rng, topic, kind)
            score = rng.choice([2, 5, 11, 15, 27, 40, 88]) if kind != "short" else rng.randint(0, 30)
            if q in (6, 14) and k == 0:  # the same top answer under two questions: a duplicate
                body, score = shared_answer, 150
            posts.append({
                "Id": answer_id, "PostTypeId": 2, "ParentId": q_id,
                "CreationDate": f"2019-{month:02d}-2{k}T09:{k:02d}:00.{answer_id % 1000:03d}",
                "Score": score, "Body": body,
                "OwnerUserId": 1 + (q + k + 1) % len(user_names) if k != 1 else None,
                "OwnerDisplayName": "anonymous cook" if k == 1 else None,
                "LastActivityDate": "2020-01-01T00:00:00.000", "CommentCount": 0,
                "ContentLicense": ("CC BY-SA 3.0" if k % 2 else "CC BY-SA 4.0") if license_attr else None,
            })  # fmt: skip
    posts.append({"Id": post_id, "PostTypeId": 4, "CreationDate": "2019-01-01T00:00:00.000", "Score": 0, "Body": ""})
    return posts, users


def _xml(root: str, rows: list[dict], *, doctype: bool = False, crlf: bool = False, end: str = " />") -> bytes:
    newline = "\r\n" if crlf else "\n"
    lines = ['<?xml version="1.0" encoding="utf-8"?>']
    if doctype:
        lines.append(f"<!DOCTYPE {root} SYSTEM '{root}.dtd'>")
    lines.append(f"<{root}>")
    lines += [_row(r, end) for r in rows]
    lines.append(f"</{root}>")
    return b"\xef\xbb\xbf" + newline.join(lines).encode("utf-8") + newline.encode()


def write_sample_dump(folder: str | Path) -> Path:
    """Write the sample dump into ``folder`` (created) and return it. Deterministic."""
    import py7zr

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20230518)
    physics_posts, physics_users = _site_rows("physics.stackexchange.com", rng, pipes=False, license_attr=True)
    site = folder / "physics.stackexchange.com"
    site.mkdir(exist_ok=True)
    (site / "Posts.xml").write_bytes(_xml("posts", physics_posts))
    (site / "Users.xml").write_bytes(_xml("users", physics_users))

    cooking_posts, cooking_users = _site_rows("cooking.stackexchange.com", rng, pipes=False, license_attr=True)
    staging = folder / ".cooking-staging"
    staging.mkdir(exist_ok=True)
    (staging / "Posts.xml").write_bytes(_xml("posts", cooking_posts))
    (staging / "Users.xml").write_bytes(_xml("users", cooking_users))
    archive = folder / "cooking.stackexchange.com.7z"
    if archive.exists():
        archive.unlink()
    with py7zr.SevenZipFile(archive, "w") as z:
        z.write(staging / "Posts.xml", "Posts.xml")
        z.write(staging / "Users.xml", "Users.xml")
    for child in staging.iterdir():
        child.unlink()
    staging.rmdir()

    travel_posts, travel_users = _site_rows("travel.stackexchange.com", rng, pipes=True, license_attr=False)
    site = folder / "travel.stackexchange.com"
    site.mkdir(exist_ok=True)
    (site / "Posts.xml").write_bytes(_xml("posts", travel_posts, doctype=True, crlf=True, end="></row>"))

    meta_posts, _ = _site_rows("physics.meta.stackexchange.com", rng, pipes=False, license_attr=True)
    site = folder / "physics.meta.stackexchange.com"
    site.mkdir(exist_ok=True)
    (site / "Posts.xml").write_bytes(_xml("posts", meta_posts))
    return folder


def sample_dump() -> Path:
    """The sample dump in the cache folder (written on first use)."""
    from curation.samples import cached_sample

    return cached_sample("stackexchange-v1", write_sample_dump, "travel.stackexchange.com/Posts.xml")
