// The front end's own logic (src/model.ts and friends), in Node: no browser, no JupyterLab.
export default {
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node'
  }
};
