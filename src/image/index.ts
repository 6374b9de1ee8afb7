/*
 * The io_uring checkpoint image: schema (proto/io_uring.proto), envelope,
 * files, conversion from the capture model, validation.
 */
export * from './types';
export { ImageError } from './errors';
export { encodeImage, decodeImage, MAGIC, ENVELOPE_VERSION, HEADER_SIZE } from './envelope';
export { writeImage, writeAtomic, syncFiles, readImage, readImages, imagePids } from './files';
export { fromCapture, stateOwners, RingBlobs, RingMemory, CaptureContext } from './from-capture';
export { validateImage, validateImageSet, imageProblems, imageSetProblems, ringProblems, imageName } from './validate';
export { ringsRegionSize, sqesRegionSize } from './geometry';
