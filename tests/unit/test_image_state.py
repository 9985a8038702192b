"""Config steps and the image config they produce."""

from __future__ import annotations

from bakery.recipe.model import CmdStep, EntrypointStep, EnvStep, ExposeStep, LabelsStep, UserStep
from bakery.rootfs.image import (
    ImageState,
    apply_config_step,
    image_config,
    oci_platform,
    rfc3339,
    with_history,
)


def test_config_steps_accumulate_like_a_dockerfile() -> None:
    state = ImageState(architecture="amd64")
    state = apply_config_step(state, EnvStep(env={"LANG": "C.UTF-8"}))
    state = apply_config_step(state, CmdStep(cmd=("bash",)))
    state = apply_config_step(state, EntrypointStep(entrypoint=("nginx",)))
    state = apply_config_step(state, ExposeStep(expose=("8080/tcp",)))
    state = apply_config_step(state, ExposeStep(expose=("8080/tcp", "53/udp")))
    state = apply_config_step(state, LabelsStep(labels={"b": "2", "a": "1"}))
    state = apply_config_step(state, UserStep(user="app"))
    assert state.env_map["LANG"] == "C.UTF-8" and "PATH" in state.env_map
    assert state.entrypoint == ("nginx",) and state.cmd is None  # entrypoint resets cmd
    assert state.exposed == ("53/udp", "8080/tcp")
    assert state.labels == (("a", "1"), ("b", "2"))


def test_image_config_is_deterministic_and_round_trips_through_from_config() -> None:
    state = apply_config_step(ImageState(architecture="arm64"), UserStep(user="app"))
    state = with_history(state, "bakery: user=app", 0, empty=True)
    config = image_config(state, [], 1700000000)
    assert config.created == "2023-11-14T22:13:20Z"
    assert (config.architecture, config.variant) == ("arm64", "v8")
    assert config.config is not None and config.config.user == "app"
    again = ImageState.from_config(config)
    assert again.user == "app" and again.env == state.env and again.history == state.history


def test_platform_mapping_and_epoch_format() -> None:
    assert oci_platform("amd64") == ("amd64", None)
    assert oci_platform("armhf") == ("arm", "v7")
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
