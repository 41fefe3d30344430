#!/bin/sh
# skaffold's custom build of one LearnFlow image (skaffold.yaml): docker/Dockerfile with
# SERVICE=$1, tagged $IMAGE, pushed when skaffold asks for it ($PUSH_IMAGE). skaffold sets
# IMAGE, PUSH_IMAGE and BUILD_CONTEXT; DOCKER_HOST (or minikube's docker-env) picks the engine.
#
# A custom build, not skaffold's docker builder, so that each artifact's dependencies can be
# listed (skaffold.yaml): with `COPY . .` the docker builder would rebuild all five images
# on any change.
set -eu
service="${1:?usage: skaffold-build.sh SERVICE (set by skaffold.yaml)}"
: "${IMAGE:?IMAGE is set by skaffold}"
context="${BUILD_CONTEXT:-.}"
docker buildx build --load --progress=plain \
  --build-arg "SERVICE=$service" \
  ${CARGO_PROFILE:+--build-arg "CARGO_PROFILE=$CARGO_PROFILE"} \
  -f "$context/docker/Dockerfile" -t "$IMAGE" "$context"
if [ "${PUSH_IMAGE:-false}" = "true" ]; then
  docker push --quiet "$IMAGE"
fi
