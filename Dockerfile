# The operator's own image: goimage-operator (and its build-pod `report` step).
#
# Two stages: the build stage installs the package into a virtualenv; the
# runtime stage gets only that virtualenv on the same Python base, runs as
# UID 65532 and needs nothing writable but /tmp (the chart mounts an emptyDir).
# No pip, compiler or package manager runs at run time.
#
# BASE_IMAGE is a build argument so that a registry of your own (or the local
# one `make image` pushes to, where nothing can be pulled from outside) serves
# the base. Any Debian-like image with python3 >= 3.11 and its venv module works.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# pip reads these from the environment: a private index or a wheelhouse for
# offline builds (e.g. PIP_NO_INDEX=1 PIP_FIND_LINKS=http://host/wheels/).
ARG PIP_INDEX_URL
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ARG PIP_TRUSTED_HOST
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python3 -m venv /opt/goimage \
 && /opt/goimage/bin/pip install --no-cache-dir --disable-pip-version-check . \
 && /opt/goimage/bin/pip uninstall --yes pip \
 && /opt/goimage/bin/python -m compileall -q /opt/goimage/lib

FROM ${BASE_IMAGE}
# A named non-root user: kopf (through getpass) asks who it runs as.
RUN echo 'goimage:x:65532:65532:goimage-operator:/nonexistent:/usr/sbin/nologin' >>/etc/passwd \
 && echo 'goimage:x:65532:' >>/etc/group
COPY --from=build /opt/goimage /opt/goimage
ENV PATH=/opt/goimage/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
ENTRYPOINT ["goimage-operator"]
CMD ["run"]
