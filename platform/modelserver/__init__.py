"""Local stand-in for OpenVINO Model Server (OVMS).

Serves an OVMS model repository (``config.json`` + ``<model>/<version>/model.xml``) with the OpenVINO runtime and
answers both OVMS gRPC APIs on one port: TensorFlow-Serving (``tensorflow.serving.PredictionService`` /
``ModelService``) and KServe v2 (``inference.GRPCInferenceService``). Status codes, error messages and metadata
shapes follow OVMS, so client code tested against it also works against real OVMS pods.

    PYTHONPATH=platform python -m modelserver --config_path model_repository/config.json --port 9000

or in-process: ``handle = serve(config_path, port=0); ...; handle.stop()``.
"""

from modelserver.server import ServerHandle, serve

__all__ = ["ServerHandle", "serve"]
