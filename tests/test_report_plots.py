"""Report figures: log-y rule, off-scale ratio markers, legends clear of the data, labels inside the figure,
experiment label on every figure, lattice binning, degenerate observables, layer images in mm, training history."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.collections import QuadMesh
from matplotlib.figure import Figure

from hepgan.io.events import EventBatch
from hepgan.io.geometry import load_geometry
from hepgan.validation import plot_comparison, plot_history, plot_images, plot_style, plots
from hepgan.validation.comparison import compare_observable, comparison_edges
from hepgan.validation.event_report import validate_event_arrays
from hepgan.validation.histograms import lattice, lattice_edges
from hepgan.validation.observables import describe
from hepgan.validation.report import validate_arrays, validate_observables

from .helpers import toy_zmumu


# ----------------------------------------------------------------------------- helpers
def _visible_texts(figure: Figure) -> list:
    """Every text drawn on ``figure`` (after a draw): labels, titles, in-view tick labels, legends, free texts."""
    texts = list(figure.texts)
    for legend in figure.legends:
        texts.extend(legend.get_texts())
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        texts.extend([ax.xaxis.label, ax.yaxis.label, ax.title, ax._left_title, ax._right_title, *ax.texts])
        legend = ax.get_legend()
        if legend is not None:
            texts.extend(legend.get_texts())
        if not ax.axison:
            continue
        for axis in (ax.xaxis, ax.yaxis):
            scale = axis.get_transform()  # compare positions on the axis' own scale (log or linear)
            low, high = sorted(float(v) for v in scale.transform(np.asarray(axis.get_view_interval())))
            slack = 1e-6 * (high - low)
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                location = tick.get_loc()
                if location is None or (axis.get_scale() == "log" and location <= 0):
                    continue
                if low - slack <= float(scale.transform(np.array([location]))[0]) <= high + slack:
                    texts.extend([tick.label1, tick.label2])
            texts.append(axis.get_offset_text())
    return [text for text in texts if text.get_visible() and text.get_text().strip()]


def check_figure(figure: Figure) -> None:
    """Every drawn text lies inside the figure; the experiment label is there and its parts do not overlap."""
    with plots.figure_style(figure):
        figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    bounds = figure.bbox
    texts = _visible_texts(figure)
    for text in texts:
        box = text.get_window_extent(renderer)
        assert box.x0 >= bounds.x0 - 1 and box.x1 <= bounds.x1 + 1, f"{text.get_text()!r} sticks out sideways"
        assert box.y0 >= bounds.y0 - 1 and box.y1 <= bounds.y1 + 1, f"{text.get_text()!r} sticks out at top/bottom"
    strings = [text.get_text() for text in texts]
    assert any(plots.EXPERIMENT in s for s in strings) and any(plots.STATUS in s for s in strings), strings
    for ax in figure.axes:
        label_parts = [t for t in ax.texts if t.get_text().strip()]
        boxes = [t.get_window_extent(renderer) for t in label_parts]
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert not boxes[i].overlaps(boxes[j]), (label_parts[i].get_text(), label_parts[j].get_text())


@pytest.fixture
def checked_figures(monkeypatch):
    """Replace the PNG writer: every figure a report makes is checked with :func:`check_figure`, not written."""
    seen: list[str] = []

    def fake_save(figure, path):
        plots.finalise_layout(figure)
        try:
            check_figure(figure)
        except AssertionError as exc:
            raise AssertionError(f"{path}: {exc}") from None
        seen.append(str(path))
        figure.clear()
        return path

    for module in (plot_style, plot_comparison, plot_images, plot_history):  # every module that saves figures
        if hasattr(module, "save_figure"):
            monkeypatch.setattr(module, "save_figure", fake_save)
    return seen


def toy_showers(geometry, incident, rng, scale=1.0):
    """Energy shared over voxels with a radial fall-off and a layer profile, in MeV."""
    n = len(incident)
    radius = geometry.voxel_radius()
    profile = np.exp(-radius / 20.0) * (1 + geometry.layer_of_voxel)
    weights = rng.gamma(2.0, 1.0, (n, geometry.n_voxels)) * profile * (rng.random((n, geometry.n_voxels)) < 0.7)
    weights /= weights.sum(axis=1, keepdims=True)
    return weights * (scale * incident * rng.normal(0.9, 0.03, n))[:, None]


# ----------------------------------------------------------------------------- comparison figures
def test_log_y_for_wide_observables_linear_for_centres():
    rng = np.random.default_rng(0)
    energies = rng.choice(2.0 ** np.arange(8, 23), 3000) * rng.normal(0.95, 0.02, 3000)
    info = describe("e_total")
    _, edges = compare_observable(energies, energies * 1.01, log_bins=info.log, floor=False)
    figure = plots.comparison_figure(energies, energies * 1.01, edges, info.label, log_x=info.log, title="toy")
    assert figure.axes[0].get_yscale() == "log"
    centres = rng.normal(0.0, 2.0, 3000)
    info = describe("centre_x_1")
    _, edges = compare_observable(centres, centres + 0.1, log_bins=info.log, floor=False)
    figure = plots.comparison_figure(centres, centres + 0.1, edges, info.label, log_x=info.log, title="toy")
    assert figure.axes[0].get_yscale() == "linear"
    assert plots.use_log_y(np.array([1.0, 0.1, 0.001, 0.0])) and not plots.use_log_y(np.array([1.0, 0.5, 0.02]))


def test_ratio_off_scale_drawn_as_edge_triangles():
    figure = Figure()
    ax = figure.add_subplot()
    centres = np.array([0.5, 1.5, 2.5, 3.5])
    plots.draw_ratio(ax, centres, np.array([1.0, 3.0, 0.2, np.inf]), np.full(4, 0.05))
    low, high = ax.get_ylim()
    (up,) = [line for line in ax.lines if line.get_gid() == plots.OFF_SCALE_HIGH]
    (down,) = [line for line in ax.lines if line.get_gid() == plots.OFF_SCALE_LOW]
    assert up.get_marker() == "^" and down.get_marker() == "v"
    assert list(up.get_xdata()) == [1.5, 3.5] and list(down.get_xdata()) == [2.5]
    assert np.all(np.asarray(up.get_ydata()) >= high - 0.1 * (high - low))
    assert np.all(np.asarray(up.get_ydata()) <= high)
    assert np.all(np.asarray(down.get_ydata()) <= low + 0.1 * (high - low))


def test_comparison_marks_a_ratio_of_three_at_the_top_edge():
    edges = np.arange(11.0)
    counts = np.full(10, 200)
    reference = np.repeat(np.arange(10) + 0.5, counts)
    generated_counts = counts.copy()
    generated_counts[4] = 600
    generated = np.repeat(np.arange(10) + 0.5, generated_counts)
    figure = plots.comparison_figure(reference, generated, edges, "x", title="toy")
    ratio_axes = figure.axes[1]
    (up,) = [line for line in ratio_axes.lines if line.get_gid() == plots.OFF_SCALE_HIGH]
    assert list(up.get_xdata()) == [4.5]
    assert up.get_ydata()[0] >= plots.RATIO_LIMITS[1] - 0.1 * (plots.RATIO_LIMITS[1] - plots.RATIO_LIMITS[0])
    assert ratio_axes.get_ylim() == pytest.approx(plots.RATIO_LIMITS)


@pytest.mark.parametrize("shape", ["peak_left", "peak_right", "flat", "falling_log"])
def test_legend_clear_of_the_data(shape):
    rng = np.random.default_rng(1)
    values = {
        "peak_left": rng.exponential(1.0, 4000),
        "peak_right": 10 - rng.exponential(1.0, 4000),
        "flat": rng.uniform(0, 10, 4000),
        "falling_log": rng.pareto(1.5, 4000) + 1.0,
    }[shape]
    log_x = shape == "falling_log"
    edges = np.geomspace(1.0, 100.0, 41) if log_x else np.linspace(0.0, 10.0, 41)
    metrics = {"chi2": 40.0, "ndf": 39, "p_value": 0.4, "w1": 0.01, "separation_power": 0.002}
    figure = plots.comparison_figure(values, values, edges, "x [mm]", metrics=metrics, unit="mm", log_x=log_x)
    plots.finalise_layout(figure)
    with plots.figure_style(figure):
        figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    top = figure.axes[0]
    box = top.get_legend().get_window_extent(renderer)
    histograms = plots.comparison_histograms(values, values, edges, log_x)
    tops = np.fmax(histograms.reference, histograms.generated + histograms.generated_error)
    for low, high, y in zip(edges[:-1], edges[1:], tops, strict=True):
        if y <= 0:
            continue
        (x0, y_top), (x1, _) = top.transData.transform([(low, y), (high, y)])
        if x1 > box.x0 and x0 < box.x1:
            assert y_top <= box.y0 + 1, f"bin [{low}, {high}] reaches under the legend"


def test_metrics_text_reads_na_for_degenerate_and_empty_chi2():
    assert "n/a" in plots.format_metrics({"degenerate": "reference and generated are all 0"})
    text = plots.format_metrics({"chi2": 0.0, "ndf": 0.0, "w1": 0.0})
    assert "n/a" in text and "0/0" not in text


def test_long_labels_wrap_outside_mathtext():
    wrapped = plots.wrap_label("Lateral width in x ($\\sigma_x$ with a space), layer 12 [mm]", 20)
    assert "\n" in wrapped
    for line in wrapped.split("\n"):
        assert line.count("$") % 2 == 0


# ----------------------------------------------------------------------------- lattice binning
def test_lattice_edges_half_way_between_allowed_values():
    rng = np.random.default_rng(2)
    sparsity = rng.integers(0, 9, 500) / 8.0
    edges = lattice_edges(sparsity, rng.integers(0, 9, 300) / 8.0, n_bins=50)
    np.testing.assert_allclose(edges, (np.arange(10) - 0.5) / 8.0)
    assert lattice(rng.normal(size=500)) is None
    assert lattice_edges(rng.normal(size=500)) is None
    fine = rng.integers(0, 1000, 20_000) / 1000.0
    grouped = lattice_edges(fine, n_bins=50)
    assert grouped is not None and len(grouped) - 1 <= 50
    np.testing.assert_allclose(np.diff(grouped), 20 / 1000.0)
    assert grouped[0] == pytest.approx(-0.5 / 1000.0)


def test_discrete_observable_binned_on_its_lattice():
    rng = np.random.default_rng(3)
    reference, generated = rng.integers(0, 6, 400) / 8.0, rng.integers(0, 7, 400) / 8.0
    result, edges = compare_observable(reference, generated, floor=False)
    np.testing.assert_allclose(edges, (np.arange(8) - 0.5) / 8.0)
    assert result["ndf"] == 6
    np.testing.assert_allclose(comparison_edges(reference, generated, 50, log_bins=False), edges)


# ----------------------------------------------------------------------------- degenerate observables
def test_constant_observable_reads_na_and_stays_out_of_the_averages(tmp_path):
    rng = np.random.default_rng(4)
    n_ref, n_gen = 300, 200
    reference = {
        "e_total": rng.normal(1000, 50, n_ref),
        "centre_y_0": np.zeros(n_ref),
        "width_1": rng.gamma(3, 1, n_ref),
    }
    generated = {
        "e_total": rng.normal(1000, 50, n_gen),
        "centre_y_0": np.zeros(n_gen),
        "width_1": rng.gamma(3, 1, n_gen),
    }
    geometry = load_geometry("calochallenge_ds1_photons")
    report = validate_observables(
        reference,
        np.full(n_ref, 1e3),
        generated,
        np.full(n_gen, 1e3),
        geometry,
        tmp_path,
        make_plots=False,
        physics_distances=False,
        classifier=False,
    )
    constant = report["observables"]["centre_y_0"]["overall"]
    assert constant["verdict"] == "n/a" and constant["degenerate"]
    assert constant.get("chi2") is None and constant.get("separation_power") is None
    for key in ("chi2_ndf_mean", "w1_normalised_mean", "separation_power_mean"):
        assert report["global_metrics"][key]["n_observables"] == 2
    separations = [report["observables"][n]["overall"]["separation_power"] for n in ("e_total", "width_1")]
    assert report["summary"]["mean_separation_power"] == pytest.approx(np.mean(separations))
    assert report["summary"]["verdicts"]["n/a"] == 1
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "not compared: reference and generated are all 0" in html
    different, _ = compare_observable(np.zeros(50), np.ones(50), floor=False)
    assert "degenerate" not in different and different["verdict"] != "n/a"


# ----------------------------------------------------------------------------- whole reports
def test_every_shower_report_figure_is_labelled_and_fits(tmp_path, checked_figures):
    geometry = load_geometry("calochallenge_ds1_photons")
    rng = np.random.default_rng(5)
    ref_inc, gen_inc = rng.choice([2e3, 6.5e4], 160), rng.choice([2e3, 6.5e4], 120)
    reference = toy_showers(geometry, ref_inc, rng)
    generated = toy_showers(geometry, gen_inc, rng, scale=1.05)
    report = validate_arrays(
        reference,
        ref_inc,
        generated,
        gen_inc,
        geometry,
        tmp_path,
        classifier=False,
        physics_distances=False,
        per_energy_plots=("e_ratio",),
        latent_walk_showers=reference[:3],
        latent_walk_incident_mev=2e3,
    )
    drawn = {name for name in report["plots"]}
    assert {"e_total", "width_r_12", "sparsity_0", "response_per_energy", "average_layer_images"} <= drawn
    assert len(checked_figures) == len(report["plots"]) + len(report["plots_per_energy"])
    assert report["observables"]["centre_y_0"]["overall"]["verdict"] == "n/a"
    assert describe("width_r_12").label.startswith("Radial width")


def test_every_event_report_figure_is_labelled_and_fits(tmp_path, checked_figures):
    events: EventBatch = toy_zmumu(1200, seed=6)
    report = validate_event_arrays(events.subset(slice(0, 600)), events.subset(slice(600, 1200)), tmp_path)
    assert len(checked_figures) == len(report["plots"]) > 5


def test_training_history_draws_step_records_for_the_run_loss(tmp_path):
    wgan = tmp_path / "wgan" / "metrics.jsonl"
    wgan.parent.mkdir()
    records = [
        {"step": 1, "d_loss": 6.1, "wasserstein": 0.02, "gradient_penalty": 0.6, "g_loss": 0.2, "mmd": 1.1},
        {"step": 2, "d_loss": 6.0, "wasserstein": 0.05, "gradient_penalty": 0.6, "g_loss": 0.3, "chi2_ndf_mean": 1.0},
        {"step": 2, "event": "best", "metric": "chi2_ndf_mean", "value": 1.0},
        {"step": 3, "d_loss": 5.0, "wasserstein": 0.1, "gradient_penalty": 0.5, "g_loss": 0.3, "chi2_ndf_mean": 0.9},
    ]
    wgan.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    columns = plots.read_metrics_log(wgan)
    assert "value" not in columns and list(columns["step"]) == [1.0, 2.0, 3.0]
    assert plots.history_loss_kind(columns) == "wgan-gp"
    figure = plots.training_history_figure(wgan)
    titles = {ax.get_title() for ax in figure.axes}
    assert {"Wasserstein estimate", "Gradient penalty"} <= titles and "Value V(D, G)" not in titles
    check_figure(figure)

    minimax = tmp_path / "minimax" / "metrics.jsonl"
    minimax.parent.mkdir()
    records = [
        {"step": 1, "d_loss": 1.3, "g_loss": 0.7, "value": -1.3, "d_real": 0.6, "d_fake": 0.4},
        {"step": 2, "d_loss": 1.35, "g_loss": 0.69, "value": -1.37, "d_real": 0.52, "d_fake": 0.49},
        {"step": 2, "event": "rollback", "reason": "nan", "checkpoint": "step_1.pt", "lr_factor": 0.5},
    ]
    minimax.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    figure = plots.training_history_figure(minimax)
    titles = {ax.get_title() for ax in figure.axes}
    assert {"Value V(D, G)", "Mean D output"} <= titles and "Wasserstein estimate" not in titles
    check_figure(figure)


# ----------------------------------------------------------------------------- layer images
def test_layer_images_drawn_in_mm_with_a_ratio_map():
    geometry = load_geometry("calochallenge_ds1_photons")
    rng = np.random.default_rng(7)
    showers = toy_showers(geometry, np.full(200, 1e4), rng)
    figure = plots.average_layer_images_figure(showers.mean(0), showers.mean(0) * 1.1, geometry, title="toy")
    images = [ax for ax in figure.axes if ax.get_xlabel() == "x [mm]"]
    assert len(images) == 3 * geometry.n_layers
    for row, layer in enumerate(geometry.layers):
        reference_ax, _, ratio_ax = images[3 * row : 3 * row + 3]
        low, high = reference_ax.get_xlim()
        assert low == pytest.approx(-high) and high in layer.r_edges  # a radius in mm
        mesh = next(c for c in ratio_ax.collections if isinstance(c, QuadMesh))
        assert mesh.norm.vmin + mesh.norm.vmax == pytest.approx(2.0)  # centred on a ratio of 1
        assert mesh.get_cmap().name.startswith("RdBu_r")
        assert np.ma.median(mesh.get_array()) == pytest.approx(1.1)
    check_figure(figure)
    calogan = load_geometry("calogan")
    showers = toy_showers(calogan, np.full(100, 1e4), rng)
    figure = plots.average_layer_images_figure(showers.mean(0), showers.mean(0), calogan)
    first = next(ax for ax in figure.axes if ax.get_xlabel() == "x [mm]")
    assert first.get_xlim() == pytest.approx((-240.0, 240.0)) and first.get_ylim() == pytest.approx((-240.0, 240.0))
