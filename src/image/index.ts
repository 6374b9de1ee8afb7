/*
 * The io_uring checkpoint image: schema (proto/io_uring.proto), envelope,
 * files, conversion from the capture model, validation.
 */
export * from './types';
export { ImageError } from './errors';
export { encodeImage, decodeImage, MAGIC, HEADER_SIZE } from './envelope';
export { writeImage, writeAtomic, readImages } from './files';
export { fromCapture, stateOwners, RingMemory } from './from-capture';
export { validateImage, validateImageSet, imageProblems, imageName } from './validate';
export { ringsRegionSize, sqesRegionSize } from './geometry';
