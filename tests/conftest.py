import numpy as np
import pytest
import torch

import rill

CONFIGS = {
    "c1b8": rill.Config.c1b8(),
    "c2b16": rill.Config.c2b16(),
    "c3b16": rill.Config.c3b16(),
    "ia_840f_c3b64": rill.Config.ia_840f_c3b64(),
}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


def compile_model(model, x, config, stream_axis=None):
    gm, expected = rill.fx.prepare_shape(model, x)
    nnir = rill.fx.nnir.to_nnir(gm)
    if stream_axis is not None:
        nnir, out_axis = nnir.streaming_transform(stream_axis)
        assert out_axis == stream_axis
    return nnir.to_program(config), expected
