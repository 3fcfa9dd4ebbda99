"""Object detection: darknet models in Keras, YOLO decoding, loss and NMS, IoU k-means anchors."""
