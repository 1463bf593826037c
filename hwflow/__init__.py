"""hwflow: lightweight CNNs -> QKeras -> hls4ml -> Vivado/Vitis HLS projects."""

__version__ = "0.1.0"
