// A module resolve hook (node:module register()) for the layer-swap child: the compiled
// library's mount task (dist/mount/overlay.js) gets validate-spy.mjs where it imports
// './validate.js'. Every other importer, the spy included, gets the real module.
export async function resolve(specifier, context, next) {
  if (specifier === './validate.js' && context.parentURL?.endsWith('/dist/mount/overlay.js')) {
    return { url: new URL('./validate-spy.mjs', import.meta.url).href, shortCircuit: true };
  }
  return next(specifier, context);
}
