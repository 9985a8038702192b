"""Baking one recipe as ``bakery bake`` does: the bake, then each result published (signed,
recorded, pushed) as it is tagged. ``bakery bake RECIPE`` calls it once; ``bakery bake DIR``
once per recipe, in worker processes (:mod:`bakery.cli.fleet`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bakery.cli.options import err
from bakery.pipeline.bake import BakeOptions, bake
from bakery.pipeline.publish import Context as PublishContext
from bakery.pipeline.publish import (
    Published,
    PublishOptions,
    check_base,
    check_revoked,
    check_tags,
    publish,
)
from bakery.pipeline.report import Reporter
from bakery.recipe.loader import LoadedRecipe
from bakery.result import BakeResult
from bakery.store import Store


@dataclass(frozen=True)
class BakeSettings:
    """How ``bakery bake`` bakes each recipe, from its options (picklable: a recipe of a
    directory is baked in a worker process)."""

    store_dir: Path
    use_cache: bool
    locked: bool
    scan: bool
    policy: Path | None
    publishing: PublishOptions
    record: bool
    database_url: str | None
    registry_url: str | None
    #: trust the CA certificates of this PEM file (--registry-url, --push)
    ca_file: Path | None = None


def bake_recipe(
    recipe: Path, settings: BakeSettings, reporter: Reporter, *, publish_parents: bool = True
) -> tuple[BakeResult, list[Published]]:
    """Bake ``recipe``, publishing each recipe's result as it is tagged (its parents' too
    unless ``publish_parents`` is false: a directory's bake publishes each recipe once)."""
    from bakery.cli.recording import open_recorder  # the registry's libraries: not for --help

    store = Store.open(settings.store_dir)
    environ = dict(os.environ)
    if settings.ca_file is not None:  # --push reads its CA bundle from the environment
        environ["SSL_CERT_FILE"] = str(settings.ca_file)
    # opened with --no-record too: a base revoked in the registry is refused either way
    recorder = open_recorder(
        store, environ, settings.database_url, settings.registry_url, ca_file=settings.ca_file
    )
    context = PublishContext(
        store, environ, Path.home(), recorder, reporter, record=settings.record
    )
    try:
        return _bake(recipe, context, settings, publish_parents=publish_parents)
    finally:
        recorder.close()


def _bake(
    recipe: Path, context: PublishContext, settings: BakeSettings, *, publish_parents: bool
) -> tuple[BakeResult, list[Published]]:
    """Bake, publishing each recipe's result as it is tagged."""
    published: list[Published] = []
    top = recipe.resolve()

    def on_baked(result: BakeResult, loaded: LoadedRecipe, started: datetime) -> None:
        if loaded.path != top and not publish_parents:
            return
        done, notice = publish(
            context,
            result,
            loaded.path,
            settings.publishing,
            started=started,
            finished=datetime.now(UTC),
            push=loaded.path == top,
        )
        if notice:
            err.print(f"[yellow]note:[/] {notice}", markup=True)
        published.append(done)

    options = BakeOptions(
        store=context.store,
        environ=context.environ,
        use_cache=settings.use_cache,
        locked=settings.locked,
        scan=settings.scan,
        policy=settings.policy,
        reporter=context.reporter,
        on_baked=on_baked,
        check_base=partial(check_base, context),
        check_revoked=partial(check_revoked, context),
        check_tags=partial(check_tags, context),
    )
    return bake(recipe, options), published
