"""Orchestration only: a bake's stages in order (resolve → base → steps → export → disk → test →
scan → store), then what follows it (sign → record → push).

Each stage is a call into a capability (``bakery.rootfs``, ``bakery.disk``, ``bakery.checks``,
``bakery.scan``, ``bakery.sign``, ``bakery.registry`` through a
:class:`~bakery.registry.recorder.Recorder`, ``bakery.distribute``); nothing below this package
imports it.
"""
