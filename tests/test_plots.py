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
