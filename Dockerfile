# The lab's own JupyterLab image. Binder builds it with repo2docker (a root Dockerfile makes Binder ignore
# environment.yml), and it runs anywhere: with no Docker engine inside, the notebooks replay the recordings
# in notebooks/recordings/ through the same code, and say so at the top. Only what the notebooks need is
# installed (no test tools): the image stays small, so Binder starts it quickly.
#   docker build -t layer-lab .            (here: --build-arg BASE_IMAGE=layer-lab/python:3.11-bookworm)
#   docker run -p 8888:8888 layer-lab
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ARG NB_USER=jovyan
ARG NB_UID=1000
ENV USER=${NB_USER} HOME=/home/${NB_USER} PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid ${NB_UID} --shell /bin/bash ${NB_USER}

WORKDIR ${HOME}
COPY --chown=${NB_UID}:${NB_UID} . ${HOME}
RUN python -m pip install -e "${HOME}[lab]" && sh scripts/install_jupyter_config.sh python \
    && rm -rf "${HOME}/build"

USER ${NB_USER}
EXPOSE 8888
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", \
     "--LabApp.default_url=/lab/tree/notebooks/00-start-here.ipynb"]
