// The compiled addon, or null when the install could not build it.
const addon = './build/Release/run_exp_jpeg.node';
try {
  module.exports = require(addon);
} catch {
  module.exports = null;
}
