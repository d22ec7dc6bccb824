// Where run-exp caches decoded images, face boxes, features and registry downloads.
// The install script (native/install.mjs) caches libtensorflow under the same root,
// so it owns the rule; this is the one place the sources read it from.
export { cacheRoot } from '../../native/install.mjs';
