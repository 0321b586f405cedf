"""The arithmetic behind shared figures (the drawing itself is exercised by each task's run)."""

import numpy as np

from kerasdl import plots


def test_principal_components_by_hand():
    # Four points on the line y = x, spread 1 off it in the other direction for two of them:
    # centred, they are (-2,-2), (2,2), (-1,1), (1,-1). The first component is the diagonal
    # (variance 16 of 20), the second the anti-diagonal (4 of 20).
    x = np.array([[-1.0, -1.0], [3.0, 3.0], [0.0, 2.0], [2.0, 0.0]])
    coords, explained = plots.principal_components(x, 2)
    np.testing.assert_allclose(explained, [0.8, 0.2])
    np.testing.assert_allclose(np.abs(coords[:, 0]), [2 * np.sqrt(2), 2 * np.sqrt(2), 0, 0], atol=1e-12)
    np.testing.assert_allclose(np.abs(coords[:, 1]), [0, 0, np.sqrt(2), np.sqrt(2)], atol=1e-12)


def test_principal_components_of_constant_rows_explain_nothing():
    coords, explained = plots.principal_components(np.ones((5, 3)), 2)
    assert coords.shape == (5, 2) and not coords.any()
    np.testing.assert_array_equal(explained, [0, 0])


def test_an_image_grid_draws_each_image_scaled_in_its_cell_with_its_title_above():
    import matplotlib.pyplot as plt

    images = np.arange(5 * 4 * 6, dtype="float32").reshape(5, 4, 6, 1)  # 5 grey 4x6 images
    fig = plots.image_grid(images, [f"#{k}\nline 2" for k in range(5)], ncols=2, value_range=(0, 120))
    (ax,) = fig.axes
    (picture,) = ax.get_images()
    canvas = np.asarray(picture.get_array())
    rows, cols = np.nonzero(~np.isnan(canvas))
    # Three rows of two cells, one line of NaN (the background) between the columns.
    assert canvas.shape[1] == 2 * 6 + 1 and len(rows) == 5 * 4 * 6
    cell = canvas.shape[0] // 3
    for k in range(5):
        r, c = divmod(k, 2)
        block = canvas[r * cell:(r + 1) * cell, c * 7:c * 7 + 6]
        np.testing.assert_allclose(block[~np.isnan(block)].reshape(4, 6), images[k, ..., 0] / 120)
    texts = [t.get_text() for t in ax.texts]
    assert texts == [f"#{k}\nline 2" for k in range(5)]
    plt.close(fig)
    colour = plots.image_grid(np.zeros((3, 4, 4, 3)), ncols=3, value_range=(0, 1))
    assert np.asarray(colour.axes[0].get_images()[0].get_array()).shape[-1] == 3
    plt.close(colour)
    plt.close(plots.image_grid(np.zeros((0, 4, 4))))  # nothing to draw: an empty figure
