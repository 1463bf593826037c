"""Load and validate a flow config (hls_configs/<name>.yaml) into typed dataclasses.

Two layers of validation:
- `load_config(path)`: the file alone. Unknown keys, wrong types, unknown board / backend /
  io_type / strategy, bad precision strings and quantizer specs are ConfigErrors naming the
  file, the key and the valid values.
- `validate_layers(cfg, layer_names, kernel_layers)`: against the built model. Per-layer keys
  must name real layers (the error lists the ones that exist). Reuse factors hls4ml would
  silently replace are caught in `hwflow.convert`, where hls4ml's own rule is applied.

One file per concern: `sections` (the dataclasses, FlowConfig, its cache keys) and `parse` (the file
into them); this module is the one place the rest of hwflow imports them from.
"""

from hwflow.config.parse import (QUANT_KEYS, SECTIONS, _valid_text, check_keys, config_from_dict, load_config,
                                 read_yaml, validate_layers)
from hwflow.config.sections import (BACKENDS, DEFAULT_BOARD, FIFO_MODES, IO_TYPES, MAX_CLASSES, MAX_INT, MAX_SEED,
                                    MAX_WIDTH_MULTIPLIER, PRECISION_KEYS, ROLES, STRATEGIES, Backend, DataSection,
                                    FifoMode, FlowConfig, HlsSection, IoType, LayerHls, LayerQuantOverride,
                                    ModelSection, ParitySection, PruneSection, QuantDefaults, QuantizationSection,
                                    Strategy, TrainSection, Written, schedule_text)

__all__ = [
    "BACKENDS", "DEFAULT_BOARD", "FIFO_MODES", "IO_TYPES", "MAX_CLASSES", "MAX_INT", "MAX_SEED", "MAX_WIDTH_MULTIPLIER",
    "PRECISION_KEYS", "QUANT_KEYS", "ROLES", "SECTIONS", "STRATEGIES", "Backend", "DataSection", "FifoMode",
    "FlowConfig", "HlsSection", "IoType", "LayerHls", "LayerQuantOverride", "ModelSection", "ParitySection",
    "PruneSection", "QuantDefaults", "QuantizationSection", "Strategy", "TrainSection", "Written", "_valid_text",
    "check_keys", "config_from_dict", "load_config", "read_yaml", "schedule_text", "validate_layers",
]
