# The image deploy/kubernetes/daemonset.yaml names: alps:<package version>.
#   docker build -t alps:0.1.0 .
# Two stages. `build` compiles the BPF object, the native addon and the
# TypeScript and packs them with `npm pack`; `runtime` installs that tarball
# on a slim Node image with only the libraries the addon links against.
# Every step is a stage of scripts/image.sh, which CI runs on the host in the
# same order (`image.sh all`, test/kernel/install-image.test.ts), since images
# cannot be built there. docs/install.md explains the choices.
#
# The BPF object is compiled against the build machine's kernel BTF
# (/sys/kernel/btf/vmlinux, visible to RUN steps); it is CO-RE, so libbpf
# relocates it for the node's kernel when the daemon loads it.

FROM node:20-bookworm AS build
COPY scripts/image.sh /usr/local/lib/alps/image.sh
RUN bash /usr/local/lib/alps/image.sh build-deps && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN bash /usr/local/lib/alps/image.sh build /src /out

FROM node:20-bookworm-slim AS runtime
COPY scripts/image.sh /usr/local/lib/alps/image.sh
RUN bash /usr/local/lib/alps/image.sh runtime-deps && rm -rf /var/lib/apt/lists/*
COPY --from=build /out /tmp/alps-out
RUN bash /usr/local/lib/alps/image.sh runtime /tmp/alps-out /usr/local \
  && rm -rf /tmp/alps-out /root/.npm
# The daemon needs root with the capabilities the DaemonSet grants; it writes
# only /run/alps (a hostPath there) and cgroup files.
ENTRYPOINT ["alps"]
CMD ["daemon"]
