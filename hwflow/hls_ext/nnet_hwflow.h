#ifndef NNET_HWFLOW_H_
#define NNET_HWFLOW_H_

// hwflow's hls4ml extension layers (registered by hwflow/hls_ext): data movement only, no multipliers.
// Every index below is a compile-time constant once the loops are unrolled, so the permutations are
// wiring and the bounded ReLU is one comparator pair per value.

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct channel_shuffle_config {
    static const unsigned n_pix = 1;  // H * W
    static const unsigned n_chan = 2;
    static const unsigned groups = 2;
};

struct channel_slice_config {
    static const unsigned n_pix = 1;
    static const unsigned n_chan = 2;  // input channels
    static const unsigned start = 0;
    static const unsigned n_out = 1;  // output channels
};

struct bounded_relu_config {
    static const unsigned n_in = 1;
    static const int bound = 6;
};

// output channel j reads input channel (j % groups) * (n_chan / groups) + j / groups
template <typename CONFIG_T> inline unsigned shuffle_src(unsigned j) {
    return (j % CONFIG_T::groups) * (CONFIG_T::n_chan / CONFIG_T::groups) + j / CONFIG_T::groups;
}

// ------------------------------------------------------------------------------------ io_parallel

template <class data_T, class res_T, typename CONFIG_T>
void channel_shuffle(data_T data[CONFIG_T::n_pix * CONFIG_T::n_chan], res_T res[CONFIG_T::n_pix * CONFIG_T::n_chan]) {
    #pragma HLS PIPELINE
ShufflePixel:
    for (unsigned p = 0; p < CONFIG_T::n_pix; p++) {
    ShuffleChannel:
        for (unsigned j = 0; j < CONFIG_T::n_chan; j++) {
            res[p * CONFIG_T::n_chan + j] = data[p * CONFIG_T::n_chan + shuffle_src<CONFIG_T>(j)];
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void channel_slice(data_T data[CONFIG_T::n_pix * CONFIG_T::n_chan], res_T res[CONFIG_T::n_pix * CONFIG_T::n_out]) {
    #pragma HLS PIPELINE
SlicePixel:
    for (unsigned p = 0; p < CONFIG_T::n_pix; p++) {
    SliceChannel:
        for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
            res[p * CONFIG_T::n_out + j] = data[p * CONFIG_T::n_chan + CONFIG_T::start + j];
        }
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void bounded_relu(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in]) {
    #pragma HLS PIPELINE
BoundedReluLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        data_T v = data[i];
        if (v <= 0)
            res[i] = 0;
        else if (v >= CONFIG_T::bound)
            res[i] = CONFIG_T::bound;
        else
            res[i] = v;
    }
}

// -------------------------------------------------------------------------------------- io_stream

template <class data_T, class res_T, typename CONFIG_T>
void channel_shuffle(hls::stream<data_T> &data, hls::stream<res_T> &res) {
ShufflePixel:
    for (unsigned p = 0; p < CONFIG_T::n_pix; p++) {
        #pragma HLS PIPELINE II=1
        data_T in = data.read();
        res_T out;
        PRAGMA_DATA_PACK(out)
    ShuffleChannel:
        for (unsigned j = 0; j < CONFIG_T::n_chan; j++) {
            #pragma HLS UNROLL
            out[j] = in[shuffle_src<CONFIG_T>(j)];
        }
        res.write(out);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void channel_slice(hls::stream<data_T> &data, hls::stream<res_T> &res) {
SlicePixel:
    for (unsigned p = 0; p < CONFIG_T::n_pix; p++) {
        #pragma HLS PIPELINE II=1
        data_T in = data.read();
        res_T out;
        PRAGMA_DATA_PACK(out)
    SliceChannel:
        for (unsigned j = 0; j < CONFIG_T::n_out; j++) {
            #pragma HLS UNROLL
            out[j] = in[CONFIG_T::start + j];
        }
        res.write(out);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void bounded_relu(hls::stream<data_T> &data, hls::stream<res_T> &res) {
BoundedReluLoop:
    for (unsigned i = 0; i < CONFIG_T::n_in / res_T::size; i++) {
        #pragma HLS PIPELINE
        data_T in = data.read();
        res_T out;
        PRAGMA_DATA_PACK(out)
    BoundedReluPack:
        for (unsigned k = 0; k < res_T::size; k++) {
            #pragma HLS UNROLL
            if (in[k] <= 0)
                out[k] = 0;
            else if (in[k] >= CONFIG_T::bound)
                out[k] = CONFIG_T::bound;
            else
                out[k] = in[k];
        }
        res.write(out);
    }
}

} // namespace nnet

#endif
