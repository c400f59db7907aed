declare module 'cytoscape-dagre' {
  const dagre: cytoscape.Ext;
  export default dagre;
}
