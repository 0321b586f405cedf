"""The recurrent classifier: token ids -> Embedding (padding masked) -> RNN layers -> class probabilities."""

import keras

CELLS = {"simple": keras.layers.SimpleRNN, "gru": keras.layers.GRU, "lstm": keras.layers.LSTM}


def build(vocabulary_size, num_classes, sequence_length, *, embedding_dim, matrix=None, fine_tune=True,
          cell="gru", bidirectional=True, layers=1, hidden=128, dropout=0.5, seed=0):
    """An uncompiled functional model over (N, sequence_length) int32 token ids.

    The Embedding masks id 0, so every RNN layer skips the padding: a text's
    output is the same whatever its padded length. `matrix` (vocabulary_size,
    embedding_dim) sets its starting rows (None: Keras's random uniform);
    `fine_tune=False` freezes them. Each RNN layer but the last returns its whole
    sequence for the next; dropout follows every layer.
    """
    # === Layers ===
    ids = keras.Input((sequence_length,), dtype="int32", name="token_ids")
    embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                       trainable=fine_tune, name="embedding")

    # === Functional Model ===
    x = embedding(ids)
    for k in range(layers):
        rnn = CELLS[cell](hidden, return_sequences=k < layers - 1, name=f"{cell}_{k + 1}")
        if bidirectional:
            rnn = keras.layers.Bidirectional(rnn, name=f"bidirectional_{cell}_{k + 1}")
        x = rnn(x)
        x = keras.layers.Dropout(dropout, seed=seed + k, name=f"dropout_{k + 1}")(x)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="classes")(x)
    model = keras.Model(ids, probabilities, name=f"{'bi' if bidirectional else ''}{cell}_classifier")

    # The matrix is set after building, not given as a Constant initializer: that
    # would write every number of it into the saved model's config.
    if matrix is not None:
        if tuple(matrix.shape) != (vocabulary_size, embedding_dim):
            raise ValueError(f"embedding matrix of shape {matrix.shape}; expected "
                             f"({vocabulary_size}, {embedding_dim})")
        embedding.set_weights([matrix])
    return model


def optimizer(name, learning_rate, momentum=0.9):
    """Adam, or SGD with (classical) momentum: the course's two."""
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)
    return keras.optimizers.Adam(learning_rate=learning_rate)
