import { RunExpError } from '../spec/errors.ts';

/** A problem with one layer of model.layers (or, at index -1, the model as a whole). */
export class LayerError extends RunExpError {
  override name = 'LayerError';
  /**
   * index: 0-based position in model.layers, or -1 for the model as a whole;
   * field: the key inside that layer the problem is about (e.g. `inputs[1]`), if any;
   * path: a config key outside model.layers the problem is about (e.g. `model.backbone.from`).
   */
  constructor(
    readonly index: number,
    message: string,
    readonly field?: string,
    readonly path?: string,
  ) {
    super(message, {
      key: path ?? (index >= 0 ? `model.layers[${index}]${field ? `.${field}` : ''}` : 'model.layers'),
    });
  }
}
