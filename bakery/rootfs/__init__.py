"""The rootfs builder: Debian bases (mmdebstrap), the sandbox (bubblewrap), filesystem steps,
snapshots and their diffs, the step cache, lock planning, layer application and the image
config being built."""
