// The compiled addon, or null when the install could not build it.
const addon = './build/Release/run_exp_graph.node';
try {
  module.exports = require(addon);
} catch {
  module.exports = null;
}
