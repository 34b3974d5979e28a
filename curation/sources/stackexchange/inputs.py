"""Finding the sites in what the user points at: archives, site folders, bare Posts.xml, whole dumps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from curation.errors import CurationError
from curation.sources.stackexchange.streams import Member, archive_member_sizes

_SITE_NAME = re.compile(r"^([a-z0-9]+(?:\.[a-z0-9]+)+)")
_SPLIT_ARCHIVE = re.compile(r"^(?P<site>.+?)-(?P<table>[A-Za-z]+)$")  # stackoverflow.com-Posts


@dataclass(frozen=True)
class SiteInput:
    """One site's Posts table (and Users table, for display names, when the dump has it)."""

    site: str
    posts: Member
    users: Member | None

    @property
    def is_meta(self) -> bool:
        return is_meta_site(self.site)

    @property
    def files(self) -> list[Path]:
        """The files whose bytes make up this input (for fingerprints)."""
        paths = [self.posts.path]
        if self.users is not None and self.users.path != self.posts.path:
            paths.append(self.users.path)
        return paths


def is_meta_site(site: str) -> bool:
    return site.startswith("meta.") or ".meta." in site


def site_from_name(name: str) -> str | None:
    """``coffee.stackexchange.com.7z`` / ``stackoverflow.com-Posts`` / ``ai.stackexchange.com-x`` -> site."""
    stem = name[:-3] if name.lower().endswith(".7z") else name
    split = _SPLIT_ARCHIVE.match(stem)
    if split and "." in split["site"]:
        stem = split["site"]
    match = _SITE_NAME.match(stem.lower())
    return match[1] if match else None


def discover(paths: list[str | Path], site: str | None = None) -> list[SiteInput]:
    """Resolve user-given paths to site inputs, sorted by site; raise a clear error on anything else."""
    found: list[SiteInput] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise CurationError("no such file or folder", path=path)
        found.extend(_resolve(path, site))
    if site is not None and len(found) != 1:
        raise CurationError(f"site={site!r} names one site, but {len(found)} sites were found", path=paths[0])
    by_site: dict[str, SiteInput] = {}
    for item in found:
        if item.site in by_site:
            raise CurationError(
                f"site {item.site} given twice (also in {by_site[item.site].posts.label})", path=item.posts.label
            )
        by_site[item.site] = item
    return [by_site[s] for s in sorted(by_site)]


def _resolve(path: Path, site: str | None) -> list[SiteInput]:
    if path.is_file():
        if path.name.lower().endswith(".7z"):
            item = _archive(path, site, strict=True)
            return [item] if item else []
        if path.name.lower() == "posts.xml":
            return [_posts_file(path, site)]
        raise CurationError("not a Stack Exchange dump: expected a .7z archive, a site folder or Posts.xml", path=path)
    if (path / "Posts.xml").is_file():
        return [_posts_file(path / "Posts.xml", site)]
    items: list[SiteInput] = []
    for child in sorted(path.iterdir()):
        if child.is_file() and child.name.lower().endswith(".7z"):
            item = _archive(child, None, strict=False)
            if item:
                items.append(item)
        elif child.is_dir() and (child / "Posts.xml").is_file():
            items.append(_posts_file(child / "Posts.xml", None))
    if not items:
        raise CurationError(
            "unknown layout: no Posts.xml, site folder or site .7z archive inside", path=path
        )
    return items


def _posts_file(posts: Path, site: str | None) -> SiteInput:
    name = site or site_from_name(posts.parent.name)
    if not name:
        raise CurationError(
            f"cannot tell the site from the folder name {posts.parent.name!r}; pass the site "
            "(site=... or --site)",
            path=posts,
        )
    users = posts.parent / "Users.xml"
    return SiteInput(
        site=name,
        posts=Member(posts, size=posts.stat().st_size),
        users=Member(users, size=users.stat().st_size) if users.is_file() else None,
    )


def _archive(path: Path, site: str | None, strict: bool) -> SiteInput | None:
    stem = path.name[:-3]
    split = _SPLIT_ARCHIVE.match(stem)
    if split and "." in split["site"] and split["table"].lower() != "posts":
        if strict:
            raise CurationError(f"a {split['table']} archive: the Posts table is needed", path=path)
        return None  # stackoverflow.com-Users.7z etc. beside the Posts archive
    name = site or site_from_name(path.name)
    if not name:
        raise CurationError("cannot tell the site from the archive name; pass the site", path=path)
    sizes = archive_member_sizes(path)
    posts_member = _member_named(sizes, "Posts.xml")
    if posts_member is None:
        raise CurationError("archive has no Posts.xml", path=path)
    users_member = _member_named(sizes, "Users.xml")
    users = Member(path, users_member, sizes[users_member]) if users_member else None
    if users is None and split:  # Stack Overflow ships Users in its own archive
        sibling = path.with_name(f"{split['site']}-Users.7z")
        if sibling.is_file():
            sibling_sizes = archive_member_sizes(sibling)
            member = _member_named(sibling_sizes, "Users.xml")
            if member:
                users = Member(sibling, member, sibling_sizes[member])
    return SiteInput(site=name, posts=Member(path, posts_member, sizes[posts_member]), users=users)


def _member_named(sizes: dict[str, int], name: str) -> str | None:
    for member in sorted(sizes):
        if member.rsplit("/", 1)[-1].lower() == name.lower():
            return member
    return None
