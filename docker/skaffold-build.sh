#!/bin/sh
# skaffold's custom build of one LearnFlow image (skaffold.yaml): docker/Dockerfile with
# SERVICE=$1 and CARGO_PROFILE=$2 (release when not given; skaffold's dev-image profile
# passes dev-image), tagged $IMAGE, pushed when skaffold asks for it ($PUSH_IMAGE).
# skaffold sets IMAGE, PUSH_IMAGE and BUILD_CONTEXT; DOCKER_HOST (or minikube's docker-env)
# picks the engine. The cargo profile is an argument, not an environment variable, because
# skaffold's image cache keys on the build command but not on the environment.
#
# A custom build, not skaffold's docker builder, so that each artifact's dependencies can be
# listed (skaffold.yaml): with `COPY . .` the docker builder would rebuild all five images
# on any change.
set -eu
service="${1:?usage: skaffold-build.sh SERVICE [CARGO_PROFILE] (set by skaffold.yaml)}"
cargo_profile="${2:-release}"
: "${IMAGE:?IMAGE is set by skaffold}"
context="${BUILD_CONTEXT:-.}"
docker buildx build --load --progress=plain \
  --build-arg "SERVICE=$service" \
  --build-arg "CARGO_PROFILE=$cargo_profile" \
  -f "$context/docker/Dockerfile" -t "$IMAGE" "$context"
if [ "${PUSH_IMAGE:-false}" = "true" ]; then
  docker push --quiet "$IMAGE"
fi
