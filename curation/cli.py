"""Command line: parses arguments and calls the library; nothing else lives here.

Bad input ends with one line on stderr (``error: <file> (<position>): <what>``) and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from curation import __version__
from curation.errors import CurationError

#: source name -> module holding its recipes (``NAMED`` and ``load``).
RECIPE_MODULES = {
    "stackexchange": "curation.recipes.stackexchange",
    "reddit": "curation.recipes.reddit",
    "wikihow": "curation.recipes.wikihow",
    "kocot": "curation.recipes.kocot",
}
DEFAULT_RECIPE = {"stackexchange": "lima", "reddit": "lima-writingprompts", "wikihow": "lima-wikihow", "kocot": "kocot"}

_EPILOG = """\
examples:
  python -m curation build stackexchange                      # the shipped sample dump, recipe lima
  python -m curation build stackexchange --dump dumps/coffee.stackexchange.com.7z --dump dumps/cardano/
  python -m curation build stackexchange --dump dumps/ --recipe unfiltered --size 400
  python -m curation show datasets/stackexchange-lima/v1
  python -m curation recipe stackexchange lima               # print a recipe as canonical JSON
"""


def _recipes(source: str):
    try:
        return importlib.import_module(RECIPE_MODULES[source])
    except ModuleNotFoundError as exc:
        if exc.name == RECIPE_MODULES[source]:
            raise CurationError(f"the {source} source has no recipes yet") from None
        raise


def _say(message: str, quiet: bool = False) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def cmd_build(args: argparse.Namespace) -> int:
    from curation.build import build

    module = _recipes(args.source)
    recipe = module.load(args.recipe or DEFAULT_RECIPE[args.source])
    changes = {k: v for k, v in (("size", args.size), ("seed", args.seed)) if v is not None}
    changes.update(_settings(args.set or []))
    if args.columns:
        changes["columns"] = _columns(args.columns)
    if changes:
        recipe = recipe.replace(**changes)
    dumps = args.dump
    if not dumps:
        sample = getattr(importlib.import_module(f"curation.samples.{args.source}"), "sample_dump", None)
        if sample is None:
            raise CurationError(f"give --dump: there is no sample dump for {args.source}")
        dumps = [sample()]
        _say(f"no --dump given: building from the synthetic sample dump shipped with curation ({dumps[0]})", args.quiet)
    scan_options = {"progress": not args.quiet}
    if args.skip_malformed:
        scan_options["skip_malformed"] = True
    if args.cache_dir:
        scan_options["cache_dir"] = args.cache_dir
    if args.site:
        scan_options["site"] = args.site
    _say(f"recipe {recipe.name} ({recipe.hash()[:19]}…), seed {recipe.seed}, size {recipe.size}", args.quiet)
    done = build(
        recipe,
        dumps,
        out=args.out,
        name=args.name,
        version=args.version,
        keep_rejects=args.keep_rejects,
        scan_options=scan_options,
        on_step=(None if args.quiet else lambda name: _say(f"  step {name}")),
        engine=args.engine,
        ray_address=args.ray_address,
    )
    if not args.quiet:
        print(format_funnel(done.manifest["funnel"]))
        for key, value in sorted(done.manifest.get("source_stats", {}).items()):
            if "malformed" in key and value:
                print(f"{key.replace('_', ' ')}: {value:,} (counted in curation.json)")
        print(f"wrote {done.path} ({done.manifest['splits']}, content {done.manifest['content_hash'][:19]}…)")
    if args.push:
        from curation import hub

        _report_push(hub.push(done.path, args.push, private=args.private))
    return 0


def _report_push(pushed) -> None:
    if pushed.noop:
        print(f"{pushed.repo_id}: tag {pushed.tag} already holds this version; nothing sent")
    else:
        print(f"pushed {pushed.tag} to {pushed.repo_url} (branch {pushed.branch}, commit {pushed.commit_sha[:12]})")


def cmd_push(args: argparse.Namespace) -> int:
    from curation import hub

    _report_push(hub.push(args.dir, args.repo, private=args.private, branch=args.branch))
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from curation import hub

    path = hub.pull(args.repo, args.revision, args.out)
    print(f"pulled {args.repo}@{args.revision} into {path} (content hash verified)")
    return 0


def _settings(pairs: list[str]) -> dict:
    """``KEY=VALUE`` pairs; VALUE is read as a TOML value (5, 0.5, true, ["a"]), else as text."""
    import tomllib

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CurationError(f"--set takes KEY=VALUE, got {pair!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


def _columns(text: str) -> dict:
    """``source=question,rationale=reason`` -> {"source": "question", "rationale": "reason"}."""
    mapping = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        ours, sep, theirs = part.partition("=")
        if not sep:
            raise CurationError(f"--columns takes OURS=THEIRS pairs, got {part!r}")
        mapping[ours.strip()] = theirs.strip()
    return mapping


def format_funnel(funnel: dict) -> str:
    """The funnel as a plain-text table."""
    lines = [f"candidates: {funnel['candidates']:,}", f"{'step':<34} {'kind':<9} {'in':>9} {'out':>9}  dropped"]
    for step in funnel["steps"]:
        dropped = ", ".join(f"{reason} {n:,}" for reason, n in step["dropped"].items())
        lines.append(f"{step['name']:<34} {step['kind']:<9} {step['rows_in']:>9,} {step['rows_out']:>9,}  {dropped}")
    lines.append(f"kept: {funnel['kept']:,}")
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    from curation.store import read_manifest

    manifest = read_manifest(args.dir)
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
        return 0
    print(f"{manifest['name']} {manifest['version']}  ({manifest['source']}, recipe {manifest['recipe']['name']})")
    print(f"recipe hash  {manifest['recipe_hash']}")
    print(f"content hash {manifest['content_hash']}")
    print(f"splits       {manifest['splits']}")
    for item in manifest.get("inputs", []):
        print(f"input        {item['name']} ({item['bytes']:,} bytes, {item['fingerprint'][:24]}…)")
    print(format_funnel(manifest["funnel"]))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from curation.finetune import train
    from curation.finetune.options import overrides_from

    print(train(args.dataset, args.model, args.out, **overrides_from(args)).summary())
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    from curation.finetune import ablate
    from curation.finetune.report import summary

    print(summary(ablate(args.config, args.out, update_cards=args.update_cards)))
    return 0


def cmd_recipe(args: argparse.Namespace) -> int:
    module = _recipes(args.source)
    if not args.name:
        for name, recipe in module.NAMED.items():
            print(f"{name:<24} {recipe.hash()}")
        return 0
    recipe = module.load(args.name)
    print(json.dumps(recipe.to_dict(), indent=2, sort_keys=True, ensure_ascii=False))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m curation",
        description="Curate small, high-quality instruction datasets the way LIMA did: parse community dumps, "
        "filter with a per-filter funnel, and write versioned Hugging Face datasets with dataset cards.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"curation {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="build a dataset version from dumps with a recipe",
        description="Scan the dumps, run the recipe's steps, and write a new dataset version "
        "(parquet + dataset card + curation.json manifest) under OUT/NAME/VERSION.",
    )
    build.add_argument("source", choices=sorted(RECIPE_MODULES), help="which kind of dump to read")
    build.add_argument("--dump", action="append", metavar="PATH",
                       help="a dump file or folder (repeatable). Stack Exchange: site .7z archives, site folders, "
                            "Posts.xml files or a folder of a whole dump. Default: the shipped sample dump")  # fmt: skip
    build.add_argument("--recipe", metavar="NAME|FILE",
                       help="a named recipe (see 'recipe SOURCE') or a TOML/YAML file starting from one "
                            "(recipe = \"lima\" plus options). Default: the source's LIMA recipe")  # fmt: skip
    build.add_argument("--size", type=int, help="rows to publish (overrides the recipe)")
    build.add_argument("--seed", type=int, help="seed for every random choice (overrides the recipe)")
    build.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="change one recipe option (repeatable), e.g. --set min_answer_score=5 "
                            "--set cot=false; see 'recipe SOURCE NAME' for the options")  # fmt: skip
    build.add_argument("--columns", metavar="OURS=THEIRS,...",
                       help="kocot: map KoCoT's columns to the data's, e.g. "
                            "source=question,rationale=reason,target=answer,task=class")  # fmt: skip
    build.add_argument("--out", default="datasets", help="root folder of dataset versions (default: ./datasets)")
    build.add_argument("--name", help="dataset name (default: SOURCE-RECIPE, e.g. stackexchange-lima)")
    build.add_argument("--version", dest="version", help="version to write, v1, v2… (default: the next one)")
    build.add_argument("--keep-rejects", action="store_true",
                       help="also write every rejected row with its reason to rejects/ in the version")  # fmt: skip
    build.add_argument("--skip-malformed", action="store_true",
                       help="skip malformed rows and count them, instead of stopping at the first")  # fmt: skip
    build.add_argument("--site", help="site of a bare Posts.xml whose folder name does not tell it")
    build.add_argument("--cache-dir", help="where parsed dumps are cached (default: ~/.cache/curation)")
    build.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local: Polars on this machine (default); ray: the same recipe on Ray Data, "
                            "same rows (needs pip install 'curation[ray]')")  # fmt: skip
    build.add_argument("--ray-address", metavar="ADDR", help="with --engine ray: a running cluster (default: local Ray)")
    build.add_argument("--push", metavar="OWNER/NAME", help="push the new version to this Hub dataset repo")
    build.add_argument("--private", action="store_true", help="with --push: create the repo private")
    build.add_argument("--quiet", action="store_true", help="print nothing but errors")
    build.set_defaults(func=cmd_build)

    show = commands.add_parser("show", help="print a dataset version's manifest and funnel",
                               description="Print a version's name, hashes, inputs and funnel.")  # fmt: skip
    show.add_argument("dir", help="a dataset version folder, e.g. datasets/stackexchange-lima/v1")
    show.add_argument("--json", action="store_true", help="print the whole manifest as JSON")
    show.set_defaults(func=cmd_show)

    push = commands.add_parser(
        "push", help="publish a version folder to a Hub dataset repo, tagged with its version",
        description="Upload a version folder as one commit (message: version and recipe hash) to OWNER/NAME, "
        "creating the repo if needed, and tag the commit with the version. Re-pushing the same version is a "
        "no-op; different content under an existing tag is refused. The token comes from HF_TOKEN or the "
        "login cache (huggingface-cli login); HF_ENDPOINT selects another Hub.",
    )  # fmt: skip
    push.add_argument("dir", help="a dataset version folder, e.g. datasets/stackexchange-lima/v1")
    push.add_argument("--repo", required=True, metavar="OWNER/NAME", help="the dataset repo")
    push.add_argument("--private", action="store_true", help="create the repo private")
    push.add_argument("--branch", help="branch to commit to (default: main; created from main if missing)")
    push.set_defaults(func=cmd_push)

    pull = commands.add_parser(
        "pull", help="download a published version (data, card, manifest) and verify it",
        description="Download OWNER/NAME at a revision (a version tag such as v1, a branch or a commit) into "
        "OUT, verify the content hash against the manifest, and restore the version folder.",
    )  # fmt: skip
    pull.add_argument("repo", metavar="OWNER/NAME")
    pull.add_argument("--revision", required=True, help="version tag (v1…), branch or commit")
    pull.add_argument("--out", required=True, help="folder to create (must not exist)")
    pull.set_defaults(func=cmd_pull)

    train = commands.add_parser(
        "train", help="fine-tune a model on a dataset version (LoRA by default, LIMA's settings)",
        description="Fine-tune MODEL (a local folder, a GGUF file, or a Hub id already in the cache) on a dataset "
        "version (a folder, or OWNER/NAME@REVISION on the Hub) with LIMA's defaults: AdamW 0.9/0.95, weight decay "
        "0.1, lr 1e-5 -> 1e-6 linear, no warmup, 15 epochs, effective batch 32, loss on assistant tokens, "
        "sequences cut at 2,048 tokens. Every setting below has its own option.",
    )  # fmt: skip
    from curation.finetune.options import add_train_options

    add_train_options(train)
    train.set_defaults(func=cmd_train)

    ablate = commands.add_parser(
        "ablate", help="train several arms with identical settings and compare them",
        description="Run the ablation described by CONFIG.toml (arms = dataset versions or recipes; identical "
        "settings and seeds); finished arms are not retrained when the run resumes. Writes report.md, "
        "results.json and plots.",
    )  # fmt: skip
    ablate.add_argument("config", help="the ablation's TOML file")
    ablate.add_argument("--out", help="output folder (default: from the config)")
    ablate.add_argument("--update-cards", action="store_true", default=None,
                        help="add the result to the local dataset versions' cards (README.md only; data untouched)")
    ablate.set_defaults(func=cmd_ablate)

    recipe = commands.add_parser("recipe", help="list a source's named recipes or print one as JSON",
                                 description="Without NAME: the named recipes and their hashes. With NAME (or a "
                                 "recipe file): the full recipe as canonical JSON.")  # fmt: skip
    recipe.add_argument("source", choices=sorted(RECIPE_MODULES))
    recipe.add_argument("name", nargs="?", help="a named recipe or a recipe file")
    recipe.set_defaults(func=cmd_recipe)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except CurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
