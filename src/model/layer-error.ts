/** A problem with one layer of model.layers (or, at index -1, the model as a whole). */
export class LayerError extends Error {
  override name = 'LayerError';
  /**
   * index: 0-based position in model.layers, or -1 for the model as a whole;
   * key: the key inside that layer the problem is about (e.g. `inputs[1]`), if any;
   * path: a config key outside model.layers the problem is about (e.g. `model.backbone.from`).
   */
  constructor(
    readonly index: number,
    message: string,
    readonly key?: string,
    readonly path?: string,
  ) {
    super(message);
  }
}
