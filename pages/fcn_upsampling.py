"""Fully Convolutional Learning I: upsampling, unpooling and transposed convolution, numbers live."""

import numpy as np
import streamlit as st

from core.fcn import upsampling as U
from dashboard import components, figures, resources
from dashboard import lecture as lecture_path

# In lecture mode the page's five slides each put their own section's picture on the stage under the title
# (the controls stay in their sections): the step's sub-heading or slide heading -> the section drawn there.
FOCUS = {"Aside: Image Upsampling, Integer Factor": "zeros",
         "Max pooling and max unpooling": "unpooling",
         "What about transpose convolution?": "transpose",
         "Transpose Convolution: Strides": "transpose"}


def matrix_table(m: np.ndarray, fmt: str = "{:g}", highlight=None) -> None:
    st.html(figures.matrix_html(m, fmt, highlight))  # small matrices: a static table, like the slide


def heat(m: np.ndarray, title: str, fmt: str = "{:.2f}") -> None:
    # plain HTML, not a Plotly heatmap: the six maps were half of a browser's drawing time for this page,
    # and a lecturer's change has every follower's browser redraw it at once (dashboard/follow.py)
    st.html(figures.heat_grid_html(m, title, fmt))


st.title("Upsampling inside the network")
stage = lecture_path.stage()
focus = lecture_path.focus("upsampling", FOCUS, "interpolation")

st.markdown("Segmentation needs outputs as large as the input: after pooling, the network must **upsample**. "
            "Every number on the slides, computed live.")

# ----------------------------------------------------------------------------- 1. interpolation
st.header("1. Integer upsampling by interpolation")
factor = st.slider("Factor", 1, 8, 2, key="up_factor")


def interpolations():
    for col, method in zip(st.columns(3), ("nearest", "bilinear", "bicubic"), strict=True):
        with col:
            heat(U.interpolate(U.SLIDE_MATRIX, factor, method), f"{method} (OpenCV)")


with lecture_path.at(stage, focus, "interpolation"):
    components.replay("up.interpolation", factor, interpolations)
st.caption("The slide's 4 x 4 matrix 1…16. OpenCV uses pixel centres and replicated edges; Keras's UpSampling2D "
           "below gives the same nearest and bilinear values.")
with st.expander("Keras UpSampling2D on the same matrix"):
    method_k = st.radio("Interpolation", ["nearest", "bilinear", "bicubic"], horizontal=True, key="up_keras")
    # a Keras layer call per run is ~10 ms of TensorFlow: drawn once per (factor, method), then replayed
    components.replay("up.keras", (factor, method_k), lambda: matrix_table(
        U.interpolate(U.SLIDE_MATRIX, factor, method_k, backend="keras"), "{:.2f}"))

st.subheader("On an image")
loaded = components.image_picker("up_image", default="chelsea")
if loaded is not None:
    img = loaded.array

    def crops() -> None:
        h, w = img.shape[:2]
        cy, cx = h // 2, w // 2
        crop = img[max(0, cy - 24): cy + 24, max(0, cx - 24): cx + 24]
        cols = st.columns(3)
        for col, method in zip(cols, ("nearest", "bilinear", "bicubic"), strict=True):
            up = np.clip(U.interpolate(crop, max(2, factor), method), 0, 255).astype(np.uint8)
            col.image(up, caption=f"{method} x{max(2, factor)} of the centre 48 x 48 crop", width="stretch")

    components.replay("up.crops", (img, factor), crops, pictures=True)  # once per (image, factor) per worker

# ----------------------------------------------------------------------------- 2. zero insertion
st.header("2. Insert zeros, then convolve")


def zero_insertion() -> None:
    """The slide's 4 x 4 matrix, tent and box kernels: the same for everybody."""
    zero, tent = U.zero_insert_upsample(U.SLIDE_MATRIX, "tent")
    c1, c2, c3 = st.columns([4, 2, 4])
    with c1:
        st.markdown("**zero-inserted** (7 x 7)")
        matrix_table(zero)
    with c2:
        st.markdown("**kernel**")
        matrix_table(U.TENT_KERNEL, "{:.2f}")
    with c3:
        st.markdown("**convolved** = bilinear")
        matrix_table(tent, "{:.2f}")
    same = np.allclose(tent, U.bilinear_align_corners(U.SLIDE_MATRIX))
    st.success(f"Zero insertion + the tent kernel {'equals' if same else 'differs from'} bilinear interpolation: "
               f"max difference {np.abs(tent - U.bilinear_align_corners(U.SLIDE_MATRIX)).max():.1e}. Boundary convention: "
               "the zero-inserted grid is 2n−1 wide (no trailing zeros), zero-padded, and matches bilinear interpolation "
               "that keeps the corner samples (align-corners).")
    zb, box = U.zero_insert_upsample(U.SLIDE_MATRIX, "box")
    st.markdown("A 2 x 2 **box** kernel on the zero-inserted 8 x 8 grid gives **nearest neighbour**: "
                f"{'identical' if np.array_equal(box, U.interpolate(U.SLIDE_MATRIX, 2, 'nearest')) else 'different'}.")


with lecture_path.at(stage, focus, "zeros"):
    components.replay("up.zero_insertion", (), zero_insertion)  # drawn once per worker, replayed

st.subheader("Cubic: the same zeros, a cubic kernel")
CUBIC_CHOICES = {"keys": "a = −0.5 (Keys; the slide's bicubic, default)",
                 "opencv": "a = −0.75 (OpenCV INTER_CUBIC, TensorFlow align-corners)"}
cubic_choice = st.radio("Cubic kernel", list(CUBIC_CHOICES), format_func=CUBIC_CHOICES.get, horizontal=True,
                        key="up_cubic_a")
cubic_a = U.CUBIC_A[cubic_choice]


def cubic_section(cubic_a: float) -> None:
    """Zero insertion + the cubic kernel with this a, against bicubic written directly."""
    zc, cubic = U.zero_insert_upsample(U.SLIDE_MATRIX, "cubic", a=cubic_a)
    taps = U.cubic_taps(2, cubic_a)
    st.markdown("Keys' cubic k(t) is 1 at t = 0, 0 at the other whole numbers and 0 beyond |t| = 2. Sampled every half "
                "sample it is the 1-D kernel **[" + ", ".join(f"{t:g}" for t in taps) + "]**; the 2-D kernel is its outer "
                "product with itself (7 x 7, separable). Convolving the zero-inserted 8 x 8 grid with it:")
    # two rows: three tables of 7-8 columns of three-decimal numbers side by side ran into each other
    c1, c2 = st.columns([2, 3])
    with c1:
        st.markdown("**zero-inserted** (8 x 8)")
        matrix_table(zc)
    with c2:
        st.markdown(f"**cubic kernel** 7 x 7 (a = {cubic_a:g})")
        matrix_table(U.cubic_kernel(2, cubic_a), "{:.3f}")
    st.markdown("**convolved** = bicubic")
    matrix_table(cubic, "{:.2f}")
    direct = U.keys_interpolate(U.SLIDE_MATRIX, 2, cubic_a)
    st.success(f"Zero insertion + the cubic kernel {'equals' if np.allclose(cubic, direct) else 'differs from'} "
               f"bicubic interpolation written directly (Keys' k at every half sample, zeros outside the matrix): max "
               f"difference {np.abs(cubic - direct).max():.1e}. The samples stay where they were, the zeros between them "
               "are filled in.")


components.replay("up.cubic", cubic_a, lambda: cubic_section(cubic_a))  # once per kernel per worker


@resources.cached("views", "Comparing with the library bicubic ...")
def cubic_library_check() -> tuple[bool, float, int, int]:
    """The construction (a = -0.75) against TensorFlow's align-corners bicubic, on the positions the border
    does not touch: (equal there, max difference there, positions compared, positions in all)."""
    _, ours = U.zero_insert_upsample(U.SLIDE_MATRIX, "cubic", a=U.CUBIC_A["opencv"])
    library = U.library_bicubic_align_corners(U.SLIDE_MATRIX, 2)
    n = library.shape[0]
    inside = U.cubic_interior(U.SLIDE_MATRIX.shape, 2)[:n, :n]
    diff = float(np.abs(ours[:n, :n][inside] - library[inside]).max())
    return bool(diff < 1e-4), diff, int(inside.sum()), int(inside.size)


equal, diff, compared, total = cubic_library_check()
st.caption(f"Against a library: with a = −0.75, TensorFlow's align-corners bicubic (`resize_bicubic`, 7 x 7) "
           f"{'matches' if equal else 'does not match'} the construction on the {compared} of {total} positions that "
           f"are samples or have all four cubic taps inside the matrix (max difference {diff:.1e}). At the border "
           "the library repeats the edge value where the construction pads with zeros, so the outer ring differs; "
           "OpenCV's INTER_CUBIC uses the same a but pixel centres (its samples sit ¼ pixel off this grid).")

# ----------------------------------------------------------------------------- 3. max unpooling
st.header("3. Max pooling and max unpooling")
pool = U.max_pool_with_switches(U.SLIDE_POOL_INPUT)
mask = np.zeros((4, 4), bool)
mask.reshape(-1)[pool.switches.reshape(-1)] = True


def pooling() -> None:
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**input** (switches highlighted)")
        matrix_table(U.SLIDE_POOL_INPUT, highlight=mask)
    with c2:
        st.markdown("**max pooled** 2 x 2")
        matrix_table(pool.pooled)


with lecture_path.at(stage, focus, "unpooling"):
    components.replay("up.pooling", (), pooling)  # the same for everybody
text = st.text_input("Values to unpool (4 numbers)", "1, 2, 3, 4", key="unpool_values")
try:
    vals = np.array([float(v) for v in components.parse_word_list(text)])
    if vals.size != 4 or not np.all(np.isfinite(vals)):
        raise ValueError
except ValueError:
    st.error("Give exactly four finite numbers, e.g. 1, 2, 3, 4.")
    st.stop()


def unpooling(vals: np.ndarray) -> None:
    unpooled = U.max_unpool(vals.reshape(2, 2), pool.switches, pool.input_shape)
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**unpooled** into the switch positions")
        matrix_table(unpooled, highlight=mask)
    with c2:
        st.markdown("**unpooled + convolution** (a kernel the decoder would learn; here the tent)")
        matrix_table(U.convolve_same(unpooled, U.TENT_KERNEL), "{:.2f}")


with lecture_path.at(stage, focus, "unpooling"):
    components.replay("up.unpooling", vals, lambda: unpooling(vals))  # once per typed values
st.warning("The slide's rule: some knucklehead started calling this **deconvolution**. If you use that term in this "
           "class, **you fail**. It is unpooling (or zero insertion) and then convolution — but **now the "
           "interpolation filters are learned**. (A true deconvolution inverts a convolution; this does not.)",
           icon=":material/gavel:")

# ----------------------------------------------------------------------------- 4. convolution as a matrix


st.header("4. Convolution as matrix multiplication, and its transpose")
construction = st.radio("Construction", list(U.CONSTRUCTIONS), format_func=lambda c: U.CONSTRUCTIONS[c],
                        key="tc_construction",
                        help="The slide's square matrix is the default; the valid cross-correlation is what a deep "
                             "learning framework's Conv1D computes (its transpose is Conv1DTranspose).")
c1, c2, c3 = st.columns(3)
kernel_text = c1.text_input("Kernel", "x, y, z", key="tc_kernel",
                            help=f"Numbers or symbol names, at most {U.MAX_KERNEL}.")
input_text = c2.text_input("Input (zero-padded at both ends)", "a, b, c", key="tc_input",
                           help=f"Numbers or symbol names, at most {U.MAX_PAGE_VALUES}.")
stride = c3.radio("Stride", [1, 2], horizontal=True, key="tc_stride")
kernel_entries = components.parse_word_list(kernel_text)
input_entries = components.parse_word_list(input_text)


def transpose_section(kernel_entries: list, input_entries: list, stride: int, construction: str) -> None:
    """C and its transpose for the typed kernel and input, with the numeric check (TensorFlow included)."""
    try:
        res = U.transpose_conv_1d(kernel_entries, input_entries, stride, construction, max_values=U.MAX_PAGE_VALUES)
    except U.UpsamplingError as exc:
        st.error(str(exc))
        res = None
    if res is not None:
        if construction == "slide":
            st.markdown("The slide's construction: each row of **C** holds the kernel flipped, (…, z, y, x, …), centred on "
                        "the diagonal and shifted one step per row; taps that fall off the padded input are dropped. "
                        + ("Stride 2 keeps rows 1, 3, 5, … of the stride-1 matrix." if stride == 2 else ""))
        else:
            st.markdown("Valid cross-correlation of the padded input: each row is the kernel as written, shifted by the "
                        "stride — the convention of `Conv1D` (`padding='same'` on the unpadded input for a 3-tap kernel).")
        m, n = res["output_length"], res["transpose_output_length"]
        c1, c2 = st.columns(2)
        with c1:
            st.markdown(f"**Convolution: C** ({m} x {n}) times the padded input ({', '.join(map(str, res['padded_input']))})")
            matrix_table(np.array(res["matrix"], dtype=object))
            st.markdown("C · input = " + ", ".join(f"`{e}`" for e in res["product"]))
        with c2:
            st.markdown(f"**Transposed convolution: Cᵀ** ({n} x {m}) times ({', '.join(map(str, res['transpose_input']))})")
            matrix_table(np.array(res["transpose"], dtype=object))
            st.markdown("Cᵀ · v = " + ", ".join(f"`{e}`" for e in res["transpose_product"]))
        st.caption(res["transpose_note"] + " Cᵀ maps the short output back to the input's length: that is why a "
                   "stride-2 transposed convolution upsamples.")
        # A numeric check of Cᵀ at the user's lengths: the user's numbers, or a fixed example where symbols stand.
        numeric = all(isinstance(e, (int, float)) for e in res["padded_input"] + res["matrix"][0])
        k_num = [float(e) for e in kernel_entries] if numeric else [float(t + 1) for t in range(len(kernel_entries))]
        if numeric:
            v_num = [float(e) for e in res["transpose_input"]]
            ours = np.array(res["transpose_product"], dtype=float)
        else:
            example = [2.0, 3.0, 5.0, 7.0, 11.0, 13.0, 17.0, 19.0, 23.0, 29.0, 31.0, 37.0]
            check = U.transpose_conv_1d([f"{e:g}" for e in k_num], [f"{e:g}" for e in example[: len(input_entries)]],
                                        stride, construction, max_values=U.MAX_PAGE_VALUES)
            v_num = [float(e) for e in check["transpose_input"]]
            ours = np.array(check["transpose_product"], dtype=float)
        by_zeros = U.transpose_conv_numpy(k_num, v_num, stride, n, construction)
        # TensorFlow's answer: an eager TF call costs more than the whole page, but this section is drawn once per
        # input in this worker (replayed below), so no cached function is needed (nor allowed: its progress bar
        # and cancel button must not be recorded into a replayed section)
        tf_out = U.conv1d_transpose_tf(k_num, v_num, stride, n, construction)
        agree = np.allclose(ours, by_zeros) and np.allclose(ours, tf_out, rtol=1e-5, atol=1e-4 * max(1.0, np.abs(ours).max()))
        st.caption(f"Numeric check{'' if numeric else ' (symbols replaced by kernel ' + str(k_num) + ')'}: "
                   f"Cᵀ·{v_num} = {ours.tolist()}; zero insertion + sliding the kernel = {by_zeros.tolist()}; "
                   f"tf.nn.conv1d_transpose = {np.round(tf_out, 4).tolist()} — {'equal' if agree else 'DIFFERENT'}.")


# everything below the inputs comes from them: drawn once per (kernel, input, stride, construction), replayed
with lecture_path.at(stage, focus, "transpose"):
    components.replay("up.transpose", (kernel_entries, input_entries, stride, construction),
                      lambda: transpose_section(kernel_entries, input_entries, stride, construction))


# ----------------------------------------------------------------------------- 5. 2-D transposed convolution
st.header("5. Transposed convolution in 2-D")
c1, c2, c3, c4, c5 = st.columns(5)
i_size = c1.number_input("input i′", 1, 32, 4, key="t2_i")
k_size = c2.number_input("kernel k", 1, 7, 3, key="t2_k")
s_size = c3.number_input("stride s", 1, 4, 2, key="t2_s")
p_size = c4.number_input("padding p", 0, 3, 0, key="t2_p")
op = c5.number_input("output padding", 0, 3, 0, key="t2_op", help="op < s: it picks one of the s output sizes "
                      "that the same input size comes from.")
try:
    o = U.transposed_output_size(int(i_size), int(k_size), int(s_size), int(p_size), int(op))
except U.UpsamplingError as exc:
    st.error(str(exc))
    st.stop()
st.latex(rf"o' = s(i'-1) + k - 2p + \text{{op}} = {s_size}({i_size}-1) + {k_size} - 2\cdot{p_size} + {op} = {o}")
if s_size > k_size:
    st.info("The stride is larger than the kernel: some output pixels receive no input at all (gaps).")
rng = np.random.default_rng(0)
x2 = rng.integers(0, 5, (int(i_size), int(i_size))).astype(float)
k2 = rng.integers(0, 3, (int(k_size), int(k_size))).astype(float)
try:  # both sides with the p and op typed above
    direct = U.transposed_conv_2d_padded(x2, k2, int(s_size), int(p_size), int(op))
    by_zeros = U.transposed_conv_by_zero_insertion(x2, k2, int(s_size), int(p_size), int(op))
except U.UpsamplingError as exc:
    st.error(f"{exc} Choose p ≤ k − 1 = {k_size - 1}.")
    st.stop()
st.markdown(f"Insert s−1 = {s_size - 1} zeros, pad k−p−1 = {k_size - p_size - 1} on every side"
            + (f" and op = {op} more at the bottom and right" if op else "")
            + f", stride-1 convolution with the flipped kernel: a {by_zeros.shape[0]} x {by_zeros.shape[1]} output, "
            f"{'identical to' if direct.shape == by_zeros.shape and np.allclose(direct, by_zeros) else 'different from'} "
            f"the transposed convolution with padding p = {p_size}"
            + (f" and output padding {op}" if op else "") + " (`Conv2DTranspose`: the full result cropped by p).")
st.subheader("Checkerboard artifacts")


def checkerboards() -> None:
    for col, (m, title) in zip(st.columns(3), [(U.overlap_map(4, 3, 2), "k = 3, s = 2: uneven overlap"),
                                                (U.overlap_map(4, 4, 2), "k = 4, s = 2: even inside"),
                                                (U.resize_then_convolve_map(4, 3, 2), "resize, then 3 x 3 conv")],
                               strict=True):
        with col:
            heat(m, title, "{:g}")  # counts


components.replay("up.checkerboards", (), checkerboards)  # the same for everybody: drawn once per worker
st.caption("Numbers: how many kernel taps reach each output pixel when every input and weight is 1. When k is not "
           "divisible by s, neighbouring pixels get different counts — the checkerboard.")
