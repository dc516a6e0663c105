// OHIF v3 configuration for hccp53's viewer setup (`make viewer`, docs/viewer.md): MONAI Label serves it
// at /ohif/app-config.js in place of the one bundled with its OHIF build (label/lib/ohif.py).
//
// It differs from MONAI Label's own in one setting, enableStudyLazyLoad: with `false`, this OHIF build never
// attaches a bulk-data retriever to the instances' metadata, so the encapsulated PDF's viewport has no URL and
// stays empty. With `true`, OHIF fetches the PDF through its BulkDataURI, which Orthanc writes and MONAI
// Label's proxy serves. A site pointing its own OHIF at its PACS needs the same two things: a DICOMweb data
// source whose bulk data URIs the browser can reach, and bulkDataURI.enabled with lazy study loading.
window.config = {
  routerBasename: '/ohif/',
  showStudyList: true,
  extensions: [],
  modes: [],
  showWarningMessageForCrossOrigin: true,
  showCPUFallbackMessage: true,
  showLoadingIndicator: true,
  strictZSpacingForVolumeViewport: true,
  defaultDataSourceName: 'dicomweb',
  useSharedArrayBuffer: 'FALSE',
  dataSources: [
    {
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'dicomweb',
      configuration: {
        friendlyName: 'Orthanc Server',
        name: 'Orthanc',
        // MONAI Label's DICOMweb proxy in front of the PACS given as --studies
        wadoUriRoot: '/proxy/dicom/wado',
        qidoRoot: '/proxy/dicom/qido',
        wadoRoot: '/proxy/dicom/wado',
        qidoSupportsIncludeField: true,
        supportsReject: true,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true, // MONAI Label's build: false (see above)
        supportsFuzzyMatching: true,
        supportsWildcard: true,
        dicomUploadEnabled: true,
        bulkDataURI: {
          enabled: true,
        },
      },
    },
  ],
};
